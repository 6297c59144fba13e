/**
 * runs.ts: the run history service every shell calls (CLI today; server and app later): list,
 * show, tag / untag, notes, rename, remove, compare and export runs. It reads and writes through a
 * LabStore the caller opened and owns; it never prints and never opens the store itself.
 *
 * A run reference (REF) is whatever store.runs.resolve accepts: an id ("12"), a uuid or a uuid
 * prefix (>= 6 hex digits), or an exact name (newest wins). An unknown REF raises RunNotFoundError,
 * whose message names it.
 */
import * as fs from 'node:fs';
import type {
  CheckpointRow,
  EvaluationRow,
  FullPoint,
  LabStore,
  MetricSummary,
  RunFilter,
  RunRow,
} from '../store/types.js';
import { FINAL_STATUSES } from '../store/types.js';
import { buildComparison, csvRecord, historyCsvHeader, historyCsvRecords, jsonNumber, type Comparison, type CompareInput } from './compare.js';
import { runDirOf } from '../training/run-owner.js';
import { bestMetricsOf, type RunBestMetrics } from './run-bests.js';

export class RunNotFoundError extends Error {
  constructor(readonly ref: string) {
    super(`no run matches '${ref}' (give an id, a uuid or uuid prefix of 6+ hex digits, or a name)`);
    this.name = 'RunNotFoundError';
  }
}

/** A refused operation (remove a running run, a bad tag or name): the message says why. */
export class RunRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunRefusedError';
  }
}

/** The run `ref` names; throws RunNotFoundError naming it. */
export function resolveRun(store: LabStore, ref: string): RunRow {
  const r = store.runs.resolve(ref.trim());
  if (!r) throw new RunNotFoundError(ref);
  return r;
}

/** Every run `refs` names, in order, duplicates dropped; the first unknown ref throws. */
export function resolveRuns(store: LabStore, refs: readonly string[]): RunRow[] {
  const seen = new Set<number>();
  const out: RunRow[] = [];
  for (const ref of refs) {
    const r = resolveRun(store, ref);
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    out.push(r);
  }
  return out;
}

/** `<dataDir>/runs/<uuid>/`: the run's own directory (checkpoints, logs). */
export function runDir(dataDir: string, run: Pick<RunRow, 'uuid'>): string {
  if (!/^[0-9a-f]{32}$/i.test(run.uuid)) throw new Error(`run uuid '${run.uuid}' is not 32 hex digits`);
  return runDirOf(dataDir, run);
}

/** Seconds from start to end (or to `now` while running); null if the run never started. */
export function runDurationS(run: RunRow, now: number = Date.now()): number | null {
  if (run.startedAt === null) return null;
  const end = run.endedAt ?? (run.status === 'running' ? now : null);
  return end === null ? null : Math.max(0, (end - run.startedAt) / 1000);
}

// ---- list / show ------------------------------------------------------------------------------

export interface RunListItem {
  run: RunRow;
  /** Last value of 'train/loss', or null. */
  lastTrainLoss: number | null;
  /** runDurationS at listing time. */
  durationS: number | null;
  /** Lowest training and evaluation loss, best accuracy or F1, with their steps. */
  best: RunBestMetrics;
}

/** List items of `runs`, their losses and bests read in one query (not one per run). */
export function listItemsOf(store: LabStore, runs: readonly RunRow[], now: number = Date.now()): RunListItem[] {
  const bests = store.runBests.of(runs.map((r) => r.id));
  return runs.map((run) => {
    const b = bests.get(run.id);
    return { run, lastTrainLoss: b?.lastTrainLoss ?? null, durationS: runDurationS(run, now), best: bestMetricsOf(run, b) };
  });
}

/** Runs newest first, filtered by status, tag, attention, limit (the store's RunFilter). */
export function listRuns(store: LabStore, filter: RunFilter = {}, now: number = Date.now()): RunListItem[] {
  return listItemsOf(store, store.runs.list(filter), now);
}

export interface RunDetail {
  run: RunRow;
  durationS: number | null;
  summaries: MetricSummary[];
  evaluations: EvaluationRow[];
  checkpoints: CheckpointRow[];
  /** The environment recorded at start (versions, CPU, threads, ...), or null. */
  environment: Record<string, unknown> | null;
}

export function runDetail(store: LabStore, run: RunRow, now: number = Date.now()): RunDetail {
  return {
    run,
    durationS: runDurationS(run, now),
    summaries: [...store.metrics.summaries(run.id)].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    evaluations: store.evaluations.list(run.id),
    checkpoints: store.checkpoints.list(run.id),
    environment: run.environmentId !== null ? (store.environments.get(run.environmentId) ?? null) : null,
  };
}

/** One run with everything recorded for it. */
export function showRun(store: LabStore, ref: string, now: number = Date.now()): RunDetail {
  return runDetail(store, resolveRun(store, ref), now);
}

// ---- edits ------------------------------------------------------------------------------------

const TAG_RE = /^[^\s,]{1,64}$/;

function checkTags(tags: readonly string[]): string[] {
  if (tags.length === 0) throw new RunRefusedError('give at least one tag');
  for (const t of tags)
    if (!TAG_RE.test(t)) throw new RunRefusedError(`bad tag '${t}' (1..64 characters, no spaces or commas)`);
  return [...new Set(tags)];
}

/** Adds tags (duplicates ignored); returns the updated row. */
export function tagRun(store: LabStore, ref: string, tags: readonly string[]): RunRow {
  const run = resolveRun(store, ref);
  store.runs.addTags(run.id, checkTags(tags));
  return store.runs.get(run.id) as RunRow;
}

/** Removes tags (absent ones ignored); returns the updated row. */
export function untagRun(store: LabStore, ref: string, tags: readonly string[]): RunRow {
  const run = resolveRun(store, ref);
  store.runs.removeTags(run.id, checkTags(tags));
  return store.runs.get(run.id) as RunRow;
}

/** Replaces the run's notes ('' clears them). */
export function setRunNotes(store: LabStore, ref: string, notes: string): RunRow {
  const run = resolveRun(store, ref);
  return store.runs.update(run.id, { notes });
}

/** Renames a run. Names must be 1..128 characters, not blank, and not all digits (ids are). */
export function renameRun(store: LabStore, ref: string, name: string): RunRow {
  const run = resolveRun(store, ref);
  const n = name.trim();
  if (n === '' || n.length > 128) throw new RunRefusedError(`bad run name '${name}' (1..128 characters)`);
  if (/^\d+$/.test(n)) throw new RunRefusedError(`bad run name '${name}' (all digits would read as a run id)`);
  if (/[\r\n]/.test(n)) throw new RunRefusedError('a run name must be one line');
  return store.runs.update(run.id, { name: n });
}

export interface RemovedRun {
  run: RunRow;
  /** The run directory that was deleted, or null if there was none. */
  dirRemoved: string | null;
}

/**
 * Removes runs: their rows (metrics, evaluations, checkpoint rows: store.runs.remove) and their
 * run directories `<dataDir>/runs/<uuid>/` (checkpoints). Every ref is resolved and checked first,
 * so an unknown ref or a refused run removes nothing. A run whose status is 'running' belongs to a
 * live host and is refused unless `force`.
 */
export function removeRuns(
  store: LabStore,
  dataDir: string,
  refs: readonly string[],
  opts: { force?: boolean } = {},
): RemovedRun[] {
  const runs = resolveRuns(store, refs);
  if (!opts.force) {
    const live = runs.filter((r) => r.status === 'running');
    if (live.length > 0) {
      const names = live.map((r) => `'${r.name}' (id ${r.id}${r.pid !== null ? `, pid ${r.pid}` : ''})`).join(', ');
      throw new RunRefusedError(
        `refusing to remove ${live.length === 1 ? 'a running run' : 'running runs'}: ${names}; ` +
          'a live host owns it; stop it first, or pass --force',
      );
    }
  }
  const out: RemovedRun[] = [];
  for (const run of runs) {
    store.runs.remove(run.id);
    const dir = runDir(dataDir, run);
    let dirRemoved: string | null = null;
    if (fs.existsSync(dir)) {
      fs.rmSync(dir, { recursive: true, force: true });
      dirRemoved = dir;
    }
    out.push({ run, dirRemoved });
  }
  return out;
}

// ---- compare / export -------------------------------------------------------------------------

/** Sum of every 'train/step_s' point, or null if the run has none. */
export interface CancelledRun {
  run: RunRow;
  /** False if the run had already ended (nothing to cancel). */
  requested: boolean;
}

/**
 * Records a cancel request for each active run; its host (this process or any other) stops it
 * after the current step and keeps a checkpoint. Runs that already ended are reported, not touched.
 */
export function cancelRuns(store: LabStore, refs: readonly string[]): CancelledRun[] {
  return resolveRuns(store, refs).map((run) =>
    FINAL_STATUSES.includes(run.status) ? { run, requested: false } : { run: store.runs.requestCancel(run.id), requested: true },
  );
}

/** Polls until every run has a final status or `timeoutMs` passes; returns the rows as last read. */
export async function waitForRunsToEnd(store: LabStore, ids: readonly number[], timeoutMs: number, pollMs = 200): Promise<RunRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = ids.map((id) => store.runs.get(id)).filter((r): r is RunRow => r !== undefined);
    if (rows.every((r) => FINAL_STATUSES.includes(r.status)) || Date.now() >= deadline) return rows;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function stepSecondsOf(store: LabStore, run: RunRow, summaries: readonly MetricSummary[]): number | null {
  if (!summaries.some((s) => s.key === 'train/step_s')) return null;
  return store.metrics.history(run.id, 'train/step_s').reduce((a, p) => a + p.value, 0);
}

/** The paper-style comparison table of the runs `refs` names (see lab/compare.ts for the rows). */
export function compareRuns(store: LabStore, refs: readonly string[], now: number = Date.now()): Comparison {
  const runs = resolveRuns(store, refs);
  const inputs: CompareInput[] = runs.map((run) => {
    const summaries = store.metrics.summaries(run.id);
    const needSteps = run.startedAt === null || run.endedAt === null;
    return {
      run,
      summaries,
      evaluations: store.evaluations.list(run.id),
      stepSeconds: needSteps ? stepSecondsOf(store, run, summaries) : null,
    };
  });
  return buildComparison(inputs, now);
}

export interface RunExport extends RunDetail {
  /** Every point of every metric (only when asked for). */
  metrics?: Record<string, FullPoint[]>;
}

/** Runs with their summaries, evaluations, checkpoints and environment; `metrics` adds the full history. */
export function exportRuns(store: LabStore, refs: readonly string[], opts: { metrics?: boolean } = {}): RunExport[] {
  return resolveRuns(store, refs).map((run) => {
    const d: RunExport = runDetail(store, run);
    if (opts.metrics) {
      d.metrics = {};
      for (const key of [...store.metrics.keys(run.id)].sort()) d.metrics[key] = store.metrics.history(run.id, key);
    }
    return d;
  });
}

/** JSON.stringify replacer that keeps NaN / +-Infinity as the strings "NaN", "Infinity", "-Infinity". */
export function nonFiniteReplacer(_key: string, v: unknown): unknown {
  return typeof v === 'number' ? jsonNumber(v) : v;
}

/** The export document: `{format: 'lshlab-runs', version: 1, exportedAt, runs}`. */
export function exportJson(runs: readonly RunExport[], now: number = Date.now()): string {
  return JSON.stringify({ format: 'lshlab-runs', version: 1, exportedAt: now, runs }, nonFiniteReplacer, 2) + '\n';
}

/**
 * The full, unsampled metric history of runs as CSV (run_id, run_name, key, step, value, time;
 * RFC 4180; NaN written as NaN), produced in chunks (one per series) so big runs stream. Keys in
 * sorted order per run, points in step order.
 */
export function* metricHistoryCsv(store: LabStore, runs: readonly RunRow[]): Generator<string> {
  yield historyCsvHeader();
  for (const run of runs) {
    for (const key of [...store.metrics.keys(run.id)].sort()) {
      const chunk = historyCsvRecords(run, key, store.metrics.history(run.id, key));
      if (chunk) yield chunk;
    }
  }
}

export const RUNS_CSV_HEADER = [
  'id', 'uuid', 'name', 'status', 'task', 'attention', 'dataset', 'steps', 'last_train_loss',
  'created_at', 'started_at', 'ended_at', 'duration_s', 'tags', 'notes',
] as const;

/** One CSV record per run (the list's columns plus uuid, times in ms, tags joined by ';', notes). */
export function runsCsv(store: LabStore, runs: readonly RunRow[], now: number = Date.now()): string {
  const opt = (v: number | null): string => (v === null ? '' : String(v));
  let out = csvRecord(RUNS_CSV_HEADER);
  for (const run of runs) {
    const loss = store.metrics.summaries(run.id).find((s) => s.key === 'train/loss')?.last ?? null;
    out += csvRecord([
      String(run.id), run.uuid, run.name, run.status, run.task, run.attention, run.datasetName, String(run.lastStep),
      opt(loss), String(run.createdAt), opt(run.startedAt), opt(run.endedAt), opt(runDurationS(run, now)),
      run.tags.join(';'), run.notes,
    ]);
  }
  return out;
}
