/**
 * runs.ts: the run-history operations (runs.list/show/tag/untag/note/rename/rm/export/series) over
 * lab/runs.ts and the store. runs.list pages, sorts and filters (status, task, attention, tag,
 * text) over the store's run rows, which carry no metrics, and reads metric summaries only for the
 * page shown (or for every match when sorting by train loss), so it stays fast at 10,000 runs.
 * runs.series reads the store's bucketed series, never whole histories.
 *
 * Starting, cancelling and resuming runs are in training.ts; compare in compare.ts.
 */
import { listCheckpoints } from '../training/checkpoints.js';
import { specOfRun } from '../training/host.js';
import { runDirOf } from '../training/run-owner.js';
import {
  exportJson, exportRuns, metricHistoryCsv, removeRuns, renameRun, resolveRun, resolveRuns, runDetail, runDurationS,
  setRunNotes, tagRun, untagRun,
} from '../lab/runs.js';
import type { LabStore, RunRow } from '../store/types.js';
import { ApiError, type OpPayload, type RunListItem } from './contract.js';
import type { Handlers } from './handler.js';

const lastLoss = (store: LabStore, id: number): number | null =>
  store.metrics.summaries(id).find((s) => s.key === 'train/loss')?.last ?? null;

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

/** The value runs.list sorts on (NaN losses sort as the worst); null sorts last in either direction. */
function sortKey(field: OpPayload<'runs.list'>['sort']['field'], i: RunListItem): string | number | null {
  switch (field) {
    case 'dataset': return i.run.datasetName;
    case 'durationS': return i.durationS;
    case 'lastTrainLoss': return i.lastTrainLoss !== null && Number.isNaN(i.lastTrainLoss) ? Infinity : i.lastTrainLoss;
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
      const items = page.map((run) => ({ run, lastTrainLoss: lastLoss(store, run.id), durationS: runDurationS(run, now) }));
      return { total: store.runs.count(sqlFilter), offset: p.offset, items };
    }
    const base = store.runs.list(sqlFilter);
    const text = f.text?.toLowerCase();
    const rows = base.filter((r) => matches(r, f, text));
    const needLoss = p.sort.field === 'lastTrainLoss';
    let items: RunListItem[] = rows.map((run) => ({ run, lastTrainLoss: needLoss ? lastLoss(store, run.id) : null, durationS: runDurationS(run, now) }));
    const sign = p.sort.dir === 'asc' ? 1 : -1;
    const keyed = items.map((i) => ({ i, k: sortKey(p.sort.field, i) }));
    keyed.sort((a, b) => {
      if (a.k === null || b.k === null) return a.k === b.k ? b.i.run.id - a.i.run.id : a.k === null ? 1 : -1;
      const c = typeof a.k === 'string' && typeof b.k === 'string' ? a.k.localeCompare(b.k) : (a.k as number) - (b.k as number);
      return sign * c || b.i.run.id - a.i.run.id;
    });
    items = keyed.map((x) => x.i);
    items = items.slice(p.offset, p.offset + p.limit);
    if (!needLoss) for (const i of items) i.lastTrainLoss = lastLoss(store, i.run.id);
    return { total: rows.length, offset: p.offset, items };
  },

  'runs.show': (ctx, p) => {
    const store = ctx.store();
    const run = resolveRun(store, p.run);
    const d = runDetail(store, run);
    const resumable = d.checkpoints.length > 0 || listCheckpoints(runDirOf(ctx.dataDir, run)).length > 0;
    return { ...d, spec: specOfRun(run), resumable };
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
