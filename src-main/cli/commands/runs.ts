/**
 * `lshlab runs ...`: the run history, read back from the store.
 *   runs list [--status S] [--tag T] [--attention A] [--limit N] [--json]
 *   runs show REF [--json]
 *   runs compare REF... [--format text|markdown|latex|csv|json] [--out FILE]
 *   runs export REF... | --all [--format json|csv] [--metrics] [--out FILE]
 *   runs rm REF... [--force]
 *   runs cancel REF... [--wait-s N]
 *   runs tag REF TAG... [--remove]
 *   runs note REF TEXT
 *   runs rename REF NAME
 * REF: an id, a uuid or uuid prefix (6+ hex digits), or a run name (newest wins). The work is
 * lab/runs.ts's; this file parses, prints and writes --out files atomically.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../args.js';
import { defineWithArgs, withLab, type Context } from '../command.js';
import { num, table } from '../format.js';
import { RUN_STATUSES, type BestValue, type RunRow, type RunStatus } from '../../store/types.js';
import type { EvalScoreMetric } from '../../lab/run-bests.js';
import { COMPARE_FORMATS, renderComparison, type CompareFormat } from '../../lab/compare.js';
import { describeLineage, lineageOfRun } from '../../training/lineage.js';
import { deviceInfoOfRun } from '../../training/device.js';
import {
  cancelRuns,
  compareRuns,
  exportJson,
  exportRuns,
  listRuns,
  metricHistoryCsv,
  nonFiniteReplacer,
  removeRuns,
  renameRun,
  resolveRuns,
  runsCsv,
  setRunNotes,
  showRun,
  tagRun,
  untagRun,
  waitForRunsToEnd,
} from '../../lab/runs.js';

// ---- helpers ----------------------------------------------------------------------------------

/** Writes chunks to `file` atomically: a temp file beside it, fsync, rename. */
export function writeFileAtomic(file: string, chunks: Iterable<string>): void {
  const target = path.resolve(file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, 'wx');
  try {
    try {
      for (const c of chunks) fs.writeSync(fd, c);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Sends output to --out (atomically, with a note on stderr) or to stdout. */
function emit(ctx: Context, out: string | undefined, chunks: Iterable<string>): void {
  if (out !== undefined) {
    writeFileAtomic(out, chunks);
    ctx.note(`wrote ${path.resolve(out)}`);
  } else {
    for (const c of chunks) ctx.stdout.write(c);
  }
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Local time, minutes: "2024-05-01 13:07". */
export function formatTime(ms: number | null): string {
  if (ms === null) return '-';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** "12.3s", "3m05s", "2h07m", "1d04h"; '-' when unknown. */
export function formatDuration(s: number | null): string {
  if (s === null) return '-';
  if (s < 60) return `${s.toFixed(1)}s`;
  const t = Math.floor(s);
  if (t < 3600) return `${Math.floor(t / 60)}m${pad2(t % 60)}s`;
  if (t < 86400) return `${Math.floor(t / 3600)}h${pad2(Math.floor((t % 3600) / 60))}m`;
  return `${Math.floor(t / 86400)}d${pad2(Math.floor((t % 86400) / 3600))}h`;
}

const val = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined ? '-' : num(v, digits));
const json = (v: unknown): string => JSON.stringify(v, nonFiniteReplacer, 2) + '\n';
const who = (r: RunRow): string => `'${r.name}' (id ${r.id})`;
/** A best value with the step that first reached it: "1.25@400"; '-' when there is none. */
const atStep = (b: BestValue | null): string => (b === null ? '-' : `${val(b.value)}@${b.step}`);
const SCORE_LABEL: Record<EvalScoreMetric, string> = { accuracy: 'acc', f1: 'f1' };

// ---- runs list --------------------------------------------------------------------------------

export const runsListCommand = defineWithArgs({
  path: ['runs', 'list'],
  summary: 'list recorded runs, newest first',
  usage: 'runs list [--status S] [--tag T] [--attention A] [--limit N] [--json]',
  flags: {
    status: { type: 'string', choices: RUN_STATUSES, metavar: 'S', description: 'only runs with this status' },
    tag: { type: 'string', metavar: 'T', description: 'only runs with this tag' },
    attention: { type: 'string', metavar: 'A', description: 'only runs with this attention variant' },
    limit: { type: 'int', min: 1, max: 1_000_000, metavar: 'N', description: 'at most N runs' },
    json: { type: 'boolean', description: 'print a JSON array' },
  },
  positionals: { min: 0, max: 0, what: '' },
  async run(flags, _args, ctx) {
    const items = await withLab(ctx, (store) =>
      listRuns(store, {
        ...(flags.status !== undefined ? { status: flags.status as RunStatus } : {}),
        ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
        ...(flags.attention !== undefined ? { attention: flags.attention } : {}),
        ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
      }),
    );
    if (flags.json) {
      ctx.stdout.write(json(items.map((i) => ({ ...i.run, lastTrainLoss: i.lastTrainLoss, durationS: i.durationS, best: i.best }))));
      return 0;
    }
    if (items.length === 0) {
      ctx.out('no runs');
      return 0;
    }
    const header = ['id', 'name', 'status', 'task', 'attention', 'dataset', 'steps', 'train loss', 'best loss', 'best eval loss', 'best eval', 'created', 'duration'];
    const rows = items.map(({ run, lastTrainLoss, durationS, best }) => [
      String(run.id),
      run.name,
      run.status,
      run.task,
      run.attention,
      run.datasetName,
      String(run.lastStep),
      val(lastTrainLoss),
      atStep(best.trainLoss),
      atStep(best.evalLoss),
      best.evalScore ? `${SCORE_LABEL[best.evalScore.metric]} ${atStep(best.evalScore)}` : '-',
      formatTime(run.createdAt),
      formatDuration(durationS),
    ]);
    ctx.out(table(header, rows, ['r', 'l', 'l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'l', 'r']));
    return 0;
  },
});

// ---- runs show --------------------------------------------------------------------------------

export const runsShowCommand = defineWithArgs({
  path: ['runs', 'show'],
  summary: 'one run: its row, metric summaries, evaluations, checkpoints, environment',
  usage: 'runs show REF [--json]',
  flags: { json: { type: 'boolean', description: 'print one JSON object' } },
  positionals: { min: 1, max: 1, what: 'a run (id, uuid prefix or name)' },
  async run(flags, args, ctx) {
    const d = await withLab(ctx, (store) => showRun(store, args[0] as string));
    if (flags.json) {
      ctx.stdout.write(json(d));
      return 0;
    }
    const r = d.run;
    const params = Object.entries(r.attentionParams).map(([k, v]) => `${k}=${v}`).join(' ');
    const lineage = lineageOfRun(r);
    const lines: Array<[string, string]> = [
      ['id', String(r.id)],
      ['uuid', r.uuid],
      ['name', r.name],
      ['status', r.status],
      ['task', r.task],
      ['dataset', r.datasetId !== null ? `${r.datasetName} (id ${r.datasetId})` : r.datasetName],
      ['attention', params ? `${r.attention} ${params}` : r.attention],
      ...(lineage ? ([['weights from', describeLineage(lineage, r.attention) + (lineage.sourceRunId !== undefined ? `: ${lineage.dir}` : '')]] as Array<[string, string]>) : []),
      ['seed', r.seed],
      ['tags', r.tags.length > 0 ? r.tags.join(', ') : '-'],
      ['notes', r.notes !== '' ? r.notes : '-'],
      ['created', formatTime(r.createdAt)],
      ['started', formatTime(r.startedAt)],
      ['ended', formatTime(r.endedAt)],
      ['duration', formatDuration(d.durationS)],
      ['steps', String(r.lastStep)],
    ];
    const placed = deviceInfoOfRun(r);
    const graphsOff = r.device.startsWith('cuda') && r.trainConfig['cudaGraphs'] === false;
    lines.push([
      'device',
      `${r.device}${placed?.name ? ` (${placed.name}${placed.precision ? `, ${placed.precision}` : ''}${graphsOff ? ', CUDA graphs off' : ''})` : ''}` +
        `${r.threads !== null ? `, ${r.threads} thread(s)` : ''}${placed?.why ? `: ${placed.why}` : ''}`,
    ]);
    if (r.owner !== null) lines.push(['host', r.owner]);
    if (r.error !== null) lines.push(['error', r.error]);
    if (r.pid !== null) lines.push(['pid', String(r.pid)]);
    if (r.cancelRequestedAt !== null && (r.status === 'running' || r.status === 'queued'))
      lines.push(['cancel', `requested ${formatTime(r.cancelRequestedAt)}`]);
    lines.push(['model', JSON.stringify(r.modelConfig)], ['train', JSON.stringify(r.trainConfig)]);
    lines.push(['environment', d.environment ? JSON.stringify(d.environment) : '-']);
    for (const [k, v] of lines) ctx.out(`${k.padEnd(11)}  ${v}`);

    ctx.out('');
    ctx.out('metrics');
    if (d.summaries.length === 0) ctx.out('  none');
    else
      ctx.out(
        table(
          ['key', 'points', 'last', 'at step', 'min', 'max'],
          d.summaries.map((s) => [s.key, String(s.count), val(s.last), String(s.lastStep), val(s.min), val(s.max)]),
          ['l', 'r', 'r', 'r', 'r', 'r'],
        ),
      );

    ctx.out('');
    ctx.out('evaluations');
    if (d.evaluations.length === 0) ctx.out('  none');
    else {
      const keys = [...new Set(d.evaluations.flatMap((e) => Object.keys(e.metrics)))].sort();
      ctx.out(
        table(
          ['step', 'split', ...keys],
          d.evaluations.map((e) => [String(e.step), e.split, ...keys.map((k) => val(e.metrics[k]))]),
          ['r', 'l', ...keys.map(() => 'r' as const)],
        ),
      );
    }

    ctx.out('');
    ctx.out('checkpoints');
    if (d.checkpoints.length === 0) ctx.out('  none');
    else
      ctx.out(
        table(
          ['step', 'bytes', 'path'],
          d.checkpoints.map((c) => [String(c.step), String(c.bytes), c.path]),
          ['r', 'r', 'l'],
        ),
      );
    return 0;
  },
});

// ---- runs compare -----------------------------------------------------------------------------

export const runsCompareCommand = defineWithArgs({
  path: ['runs', 'compare'],
  summary: 'the paper-style comparison table of runs (losses, accuracy, perplexity, runtime, throughput)',
  usage: 'runs compare REF... [--format text|markdown|latex|csv|json] [--out FILE]',
  details:
    "Rows: training loss (last 'train/loss'), evaluation loss / accuracy / perplexity (latest 'validation'\n" +
    "evaluation, else the latest of any split, footnoted), runtime (endedAt - startedAt, else summed\n" +
    "'train/step_s'), samples/s and steps/s (steps trained [* batchSize] / runtime); exact match, F1, attention\n" +
    "dot products, dot-product density and LSH collisions when some run has them. Missing values print as '-'.",
  flags: {
    format: { type: 'string', choices: COMPARE_FORMATS, default: 'text', metavar: 'F', description: 'text, markdown, latex, csv or json' },
    out: { type: 'string', metavar: 'FILE', description: 'write to FILE (atomically) instead of stdout' },
  },
  positionals: { min: 1, max: Infinity, what: 'at least one run (id, uuid prefix or name)' },
  async run(flags, args, ctx) {
    const c = await withLab(ctx, (store) => compareRuns(store, args));
    emit(ctx, flags.out, [renderComparison(c, flags.format as CompareFormat)]);
    return 0;
  },
});

// ---- runs export ------------------------------------------------------------------------------

export const runsExportCommand = defineWithArgs({
  path: ['runs', 'export'],
  summary: 'export runs as JSON (rows, summaries, evaluations) or CSV (--metrics: every metric point)',
  usage: 'runs export REF... | --all [--format json|csv] [--metrics] [--out FILE]',
  details:
    'json: {format, version, exportedAt, runs: [{run, durationS, summaries, evaluations, checkpoints,\n' +
    'environment[, metrics: {key: [{step, value, time}]}]}]}. csv: one record per run; with --metrics\n' +
    'the full unsampled history instead: run_id,run_name,key,step,value,time (NaN written as NaN).',
  flags: {
    all: { type: 'boolean', description: 'every run in the store' },
    format: { type: 'string', choices: ['json', 'csv'], default: 'json', metavar: 'F', description: 'json or csv' },
    metrics: { type: 'boolean', description: 'include every metric point (full history)' },
    out: { type: 'string', metavar: 'FILE', description: 'write to FILE (atomically) instead of stdout' },
  },
  positionals: { min: 0, max: Infinity, what: '' },
  async run(flags, args, ctx) {
    if (flags.all && args.length > 0) throw new UsageError('give runs or --all, not both', 'runs export');
    if (!flags.all && args.length === 0) throw new UsageError("'runs export' needs at least one run, or --all", 'runs export');
    await withLab(ctx, (store) => {
      const refs = flags.all ? store.runs.list().map((r) => String(r.id)) : args;
      if (flags.format === 'json') {
        emit(ctx, flags.out, [exportJson(exportRuns(store, refs, { metrics: flags.metrics }))]);
      } else {
        const runs = resolveRuns(store, refs);
        emit(ctx, flags.out, flags.metrics ? metricHistoryCsv(store, runs) : [runsCsv(store, runs)]);
      }
    });
    return 0;
  },
});

// ---- runs rm / tag / note / rename ------------------------------------------------------------

export const runsRmCommand = defineWithArgs({
  path: ['runs', 'rm'],
  summary: 'delete runs: their rows and their run directories (checkpoints)',
  usage: 'runs rm REF... [--force]',
  details: "A run whose status is 'running' belongs to a live host and is refused unless --force.",
  flags: { force: { type: 'boolean', description: "also delete runs whose status is 'running'" } },
  positionals: { min: 1, max: Infinity, what: 'at least one run (id, uuid prefix or name)' },
  async run(flags, args, ctx) {
    const removed = await withLab(ctx, (store, dir) => removeRuns(store, dir, args, { force: flags.force }));
    for (const r of removed) ctx.out(`removed run ${who(r.run)}${r.dirRemoved ? ` and ${r.dirRemoved}` : ''}`);
    return 0;
  },
});

export const runsCancelCommand = defineWithArgs({
  path: ['runs', 'cancel'],
  summary: 'cancel active runs, whichever process hosts them (they stop after the current step and keep a checkpoint)',
  usage: 'runs cancel REF... [--wait-s N]',
  details:
    'The request is recorded in the lab database; the process hosting each run (another terminal, the app, serve mode) ' +
    'sees it within a second. Waits up to --wait-s seconds for the runs to end (0: do not wait).',
  flags: { 'wait-s': { type: 'int', min: 0, max: 86_400, default: 60, metavar: 'N', description: 'seconds to wait for the runs to end' } },
  positionals: { min: 1, max: Infinity, what: 'at least one run (id, uuid prefix or name)' },
  async run(flags, args, ctx) {
    return withLab(ctx, async (store) => {
      const asked = cancelRuns(store, args);
      for (const a of asked) if (!a.requested) ctx.out(`run ${who(a.run)} already ${a.run.status}: nothing to cancel`);
      const ids = asked.filter((a) => a.requested).map((a) => a.run.id);
      if (ids.length === 0) return 0;
      if (flags['wait-s'] === 0) {
        for (const id of ids) ctx.out(`cancel requested for run ${id}`);
        return 0;
      }
      ctx.note(`cancel requested for ${ids.length} run(s); waiting for their hosts (up to ${flags['wait-s']} s) ...`);
      const rows = await waitForRunsToEnd(store, ids, flags['wait-s'] * 1000);
      let stillActive = 0;
      for (const r of rows) {
        if (r.status === 'running' || r.status === 'queued') stillActive++;
        ctx.out(`run ${who(r)}: ${r.status}${r.status === 'running' ? ' (cancel still pending)' : ''} at step ${r.lastStep}`);
      }
      return stillActive > 0 ? 1 : 0;
    });
  },
});

export const runsTagCommand = defineWithArgs({
  path: ['runs', 'tag'],
  summary: 'add tags to a run (or remove them with --remove)',
  usage: 'runs tag REF TAG... [--remove]',
  flags: { remove: { type: 'boolean', description: 'remove the tags instead' } },
  positionals: { min: 2, max: Infinity, what: 'a run and at least one tag' },
  async run(flags, args, ctx) {
    const [ref, ...tags] = args as [string, ...string[]];
    const run = await withLab(ctx, (store) => (flags.remove ? untagRun(store, ref, tags) : tagRun(store, ref, tags)));
    ctx.out(`tags of ${who(run)}: ${run.tags.length > 0 ? run.tags.join(', ') : '(none)'}`);
    return 0;
  },
});

export const runsNoteCommand = defineWithArgs({
  path: ['runs', 'note'],
  summary: "set a run's notes ('' clears them)",
  usage: 'runs note REF TEXT',
  details: 'Several words after REF are joined with spaces.',
  flags: {},
  positionals: { min: 2, max: Infinity, what: 'a run and the text' },
  async run(_flags, args, ctx) {
    const [ref, ...words] = args as [string, ...string[]];
    const run = await withLab(ctx, (store) => setRunNotes(store, ref, words.join(' ')));
    ctx.out(run.notes === '' ? `cleared the notes of ${who(run)}` : `notes of ${who(run)}: ${run.notes}`);
    return 0;
  },
});

export const runsRenameCommand = defineWithArgs({
  path: ['runs', 'rename'],
  summary: 'rename a run',
  usage: 'runs rename REF NAME',
  flags: {},
  positionals: { min: 2, max: 2, what: 'a run and its new name' },
  async run(_flags, args, ctx) {
    const [ref, name] = args as [string, string];
    const run = await withLab(ctx, (store) => renameRun(store, ref, name));
    ctx.out(`renamed run ${run.id} to '${run.name}'`);
    return 0;
  },
});

/** Every runs command, in help order. */
export const RUNS_COMMANDS = [
  runsListCommand,
  runsShowCommand,
  runsCompareCommand,
  runsExportCommand,
  runsRmCommand,
  runsCancelCommand,
  runsTagCommand,
  runsNoteCommand,
  runsRenameCommand,
] as const;
