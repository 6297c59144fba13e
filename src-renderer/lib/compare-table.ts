/**
 * compare-table.ts: the Compare page's pure logic: which value of a comparison row is "better"
 * (bold, as in papers), grouping runs by a setting with mean ± std across seeds, and the wall-time
 * axis estimated from per-step times. No DOM (unit-tested under Node).
 */
import type { SeriesBucket } from '../../src-main/store/types.js';
import { groupBy, meanStd, type MeanStd } from './stats.js';
import type { XY } from './smoothing.js';

/** Lower is better for losses, perplexity, time and attention work; higher for quality and speed.
 *  LSH collisions get no direction: exact attention has none, which is not "better". */
export const HIGHER_IS_BETTER: Record<string, boolean> = {
  train_loss: false,
  eval_loss: false,
  perplexity: false,
  runtime_s: false,
  dot_products: false,
  density: false,
  accuracy: true,
  samples_per_s: true,
  steps_per_s: true,
  exact_match: true,
  f1: true,
};

/** Indices of the best finite value(s) of a row (ties all win); [] with fewer than two values or no direction. */
export function bestIndices(key: string, values: readonly (number | null)[]): number[] {
  const higher = HIGHER_IS_BETTER[key];
  if (higher === undefined) return [];
  const finite = values.map((v, i) => ({ v, i })).filter((x): x is { v: number; i: number } => typeof x.v === 'number' && Number.isFinite(x.v));
  if (finite.length < 2) return [];
  const best = higher ? Math.max(...finite.map((x) => x.v)) : Math.min(...finite.map((x) => x.v));
  if (finite.every((x) => x.v === best)) return [];
  return finite.filter((x) => x.v === best).map((x) => x.i);
}

/** A run's value for a dotted settings path ('attention', 'attentionParams.bands', 'model.hiddenSize'). */
export function settingOf(settings: Record<string, unknown>, path: string): string {
  let v: unknown = settings;
  for (const p of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v === undefined || v === null ? '—' : String(v);
}

export interface GroupRow {
  group: string;
  runs: number[];
  /** One per comparison row key, in the order given. */
  stats: MeanStd[];
}

/**
 * Groups comparison columns by a setting's value; each comparison row becomes mean ± std over
 * the group's runs (e.g. 3 seeds of bert-lsh against 3 of exact).
 */
export function groupComparison(
  runIds: readonly number[],
  settings: readonly Record<string, unknown>[],
  rows: readonly { key: string; values: readonly (number | null)[] }[],
  path: string,
): GroupRow[] {
  const groups = groupBy(runIds.map((id, col) => ({ id, col })), (r) => settingOf(settings[r.col] ?? {}, path));
  return [...groups.entries()].map(([group, members]) => ({
    group,
    runs: members.map((m) => m.id),
    stats: rows.map((row) => meanStd(members.map((m) => row.values[m.col] ?? null))),
  }));
}

/**
 * Elapsed seconds at each bucket's last step, from the buckets of 'train/step_s': a bucket's
 * duration is estimated as count × (min + max) / 2 (the store keeps no sum). Returns a step ->
 * seconds mapper that interpolates linearly between buckets.
 */
export function wallTimeOf(stepBuckets: readonly SeriesBucket[]): (step: number) => number {
  const marks: XY[] = [{ x: 0, y: 0 }];
  let t = 0;
  for (const b of stepBuckets) {
    const per = Number.isFinite(b.min) && Number.isFinite(b.max) ? (b.min + b.max) / 2 : 0;
    t += per * b.count;
    marks.push({ x: b.lastStep, y: t });
  }
  return (step: number) => {
    if (marks.length < 2) return NaN;
    let i = 1;
    while (i < marks.length - 1 && marks[i]!.x < step) i++;
    const a = marks[i - 1]!;
    const b = marks[i]!;
    if (b.x === a.x) return b.y;
    return a.y + ((b.y - a.y) * (step - a.x)) / (b.x - a.x);
  };
}
