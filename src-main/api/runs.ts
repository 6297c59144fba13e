/**
 * runs.ts: the run-history operations (runs.list/show/tag/untag/note/rename/rm/export/series) over
 * lab/runs.ts and the store. runs.list pages, sorts and filters (status, task, attention, tag,
 * text) over the store's run rows, which carry no metrics, and reads the runs' last and best
 * losses and evaluation scores (store.runBests: one query over the summary tables) only for the
 * page shown, or for every run when sorting by one of them, so it stays fast at 10,000 runs.
 * runs.series reads the store's bucketed series, never whole histories.
 *
 * Starting, cancelling and resuming runs are in training.ts; compare in compare.ts.
 */
import { listCheckpoints } from '../training/checkpoints.js';
import { specOfRun } from '../training/host.js';
import { runDirOf } from '../training/run-owner.js';
import {
  exportJson, exportRuns, listItemsOf, metricHistoryCsv, removeRuns, renameRun, resolveRun, resolveRuns, runDetail, runDurationS,
  setRunNotes, tagRun, untagRun,
} from '../lab/runs.js';
import { BEST_SORT_FIELDS, bestMetricsOf, bestSortValue, type BestSortField } from '../lab/run-bests.js';
import type { LabStore, MetricSummary, RunRow } from '../store/types.js';
import type { RunSpec } from '../training/spec.js';
import { runOfCheckpointDir } from '../training/init-from.js';
import { ApiError, type OpPayload, type RunListItem, type RunShowResult } from './contract.js';
import type { Handlers } from './handler.js';

function matches(run: RunRow, f: OpPayload<'runs.list'>['filter'], text: string | undefined): boolean {
  if (f.status && !f.status.includes(run.status)) return false;
  if (f.task && run.task !== f.task) return false;
  if (f.attention && run.attention !== f.attention) return false;
  if (f.tag && !run.tags.includes(f.tag)) return false;
  if (text !== undefined) {
    const hay = [run.name, run.notes, run.datasetName, run.uuid, run.attention, ...run.tags].join('\n').toLowerCase();
    if (!hay.includes(text)) return false;
  }
  return true;
}

/** Where a resumed run continued from: the step its host recorded ('train/start_step', once the
 *  checkpoint is loaded), else the one in the checkpoint's name; the run by the checkpoint's path. */
function resumedFromOf(store: LabStore, dataDir: string, spec: RunSpec, summaries: readonly MetricSummary[]): RunShowResult['resumedFrom'] {
  if (!spec.fromCheckpoint) return null;
  const source = runOfCheckpointDir(store, dataDir, spec.fromCheckpoint);
  const named = /step-(\d+)[/\\]*$/.exec(spec.fromCheckpoint);
  const step = summaries.find((s) => s.key === 'train/start_step')?.last ?? (named ? Number(named[1]) : null);
  return { runId: source?.id ?? null, runName: source?.name ?? null, step, checkpoint: spec.fromCheckpoint };
}

type SortField = OpPayload<'runs.list'>['sort']['field'];
/** Fields whose values come from the metric and evaluation summaries, not the run rows. */
const SUMMARY_FIELDS: ReadonlySet<SortField> = new Set(['lastTrainLoss', ...Object.keys(BEST_SORT_FIELDS) as BestSortField[]]);

/** The value runs.list sorts on (NaN losses sort as the worst); null sorts last in either direction. */
function sortKey(field: SortField, i: RunListItem): string | number | null {
  switch (field) {
    case 'dataset': return i.run.datasetName;
    case 'durationS': return i.durationS;
    case 'lastTrainLoss': return i.lastTrainLoss !== null && Number.isNaN(i.lastTrainLoss) ? Infinity : i.lastTrainLoss;
    case 'bestTrainLoss': case 'bestEvalLoss': case 'bestEvalScore': return bestSortValue(field, i.best);
    default: return i.run[field];
  }
}

export const runHandlers: Handlers<'runs.list' | 'runs.show' | 'runs.tag' | 'runs.untag' | 'runs.note' | 'runs.rename' | 'runs.rm' | 'runs.export' | 'runs.series'> = {
  'runs.list': (ctx, p) => {
    const store = ctx.store();
    const now = Date.now();
    const f = p.filter;
    // The store filters one status, a tag and an attention in SQL; the rest is done here.
    const sqlFilter = {
      ...(f.status?.length === 1 ? { status: f.status[0]! } : {}),
      ...(f.tag !== undefined ? { tag: f.tag } : {}),
      ...(f.attention !== undefined ? { attention: f.attention } : {}),
    };
    // The usual page (newest first, or by id; no text, task or multi-status filter) is paged in SQL
    // too: decoding all 10,000 rows to show 50 took ~45 ms of the runs page's first paint.
    if ((p.sort.field === 'createdAt' || p.sort.field === 'id') && f.text === undefined && f.task === undefined && (f.status?.length ?? 0) <= 1) {
      const page = store.runs.list({ ...sqlFilter, order: { by: p.sort.field, dir: p.sort.dir }, limit: p.limit, offset: p.offset });
      return { total: store.runs.count(sqlFilter), offset: p.offset, items: listItemsOf(store, page, now) };
    }
    const base = store.runs.list(sqlFilter);
    const text = f.text?.toLowerCase();
    const rows = base.filter((r) => matches(r, f, text));
    // Sorting on a loss or best: every match's summaries in one query; otherwise only the page's.
    const bySummary = SUMMARY_FIELDS.has(p.sort.field);
    const bests = bySummary ? store.runBests.all() : undefined;
    const items = rows.map((run): RunListItem => {
      const b = bests?.get(run.id);
      return { run, lastTrainLoss: b?.lastTrainLoss ?? null, durationS: runDurationS(run, now), best: bestMetricsOf(run, b) };
    });
    const sign = p.sort.dir === 'asc' ? 1 : -1;
    const keyed = items.map((i) => ({ i, k: sortKey(p.sort.field, i) }));
    keyed.sort((a, b) => {
      if (a.k === null || b.k === null) return a.k === b.k ? b.i.run.id - a.i.run.id : a.k === null ? 1 : -1;
      const c = typeof a.k === 'string' && typeof b.k === 'string' ? a.k.localeCompare(b.k) : (a.k as number) - (b.k as number);
      return sign * c || b.i.run.id - a.i.run.id;
    });
    const page = keyed.slice(p.offset, p.offset + p.limit).map((x) => x.i);
    return { total: rows.length, offset: p.offset, items: bySummary ? page : listItemsOf(store, page.map((i) => i.run), now) };
  },

  'runs.show': (ctx, p) => {
    const store = ctx.store();
    const run = resolveRun(store, p.run);
    const d = runDetail(store, run);
    const resumable = d.checkpoints.length > 0 || listCheckpoints(runDirOf(ctx.dataDir, run)).length > 0;
    const spec = specOfRun(run);
    return { ...d, spec, resumable, resumedFrom: resumedFromOf(store, ctx.dataDir, spec, d.summaries) };
  },

  'runs.tag': (ctx, p) => tagRun(ctx.store(), p.run, p.tags),
  'runs.untag': (ctx, p) => untagRun(ctx.store(), p.run, p.tags),
  'runs.note': (ctx, p) => setRunNotes(ctx.store(), p.run, p.notes),
  'runs.rename': (ctx, p) => renameRun(ctx.store(), p.run, p.name),

  'runs.rm': (ctx, p) => {
    const store = ctx.store();
    const local = resolveRuns(store, p.runs).filter((r) => ctx.local.has(r.id));
    if (local.length > 0)
      throw new ApiError('conflict', `run ${local.map((r) => `${r.id} (${r.name})`).join(', ')} is training in this process; cancel it first`);
    const removed = removeRuns(store, ctx.dataDir, p.runs, { force: p.force });
    return { removed: removed.map((r) => ({ id: r.run.id, name: r.run.name, dirRemoved: r.dirRemoved })) };
  },

  'runs.export': (ctx, p) => {
    const store = ctx.store();
    const runs = resolveRuns(store, p.runs);
    const stem = runs.length === 1 ? `lshlab-run-${runs[0]!.id}` : `lshlab-runs-${runs.length}`;
    if (p.format === 'csv') return { filename: `${stem}.csv`, contentType: 'text/csv', content: [...metricHistoryCsv(store, runs)].join('') };
    return { filename: `${stem}.json`, contentType: 'application/json', content: exportJson(exportRuns(store, p.runs, { metrics: p.metrics })) };
  },

  'runs.series': (ctx, p) => {
    const store = ctx.store();
    const series = [];
    for (const run of resolveRuns(store, p.runs))
      for (const key of p.keys) series.push({ runId: run.id, key, buckets: store.metrics.series(run.id, key, p.buckets) });
    return { series };
  },
};
