/**
 * stats.ts: aggregation for the Compare page. Pure (no DOM), unit-tested under Node.
 *
 * Grouping runs by a parameter (e.g. attention, bands, tau) and showing mean ± std across seeds:
 * `meanStd` for summary numbers (sample standard deviation, n − 1, as papers report across seeds),
 * `aggregateCurves` for curves whose steps need not line up: every run is linearly interpolated
 * onto the union of the group's x values, and a run only contributes inside its own x range (no
 * extrapolation, so a shorter run does not flatten the tail).
 */
import type { XY } from './smoothing.js';

export interface MeanStd {
  mean: number;
  std: number;
  n: number;
}

/** Finite values only; std = 0 for a single value; NaN mean for none. */
export function meanStd(values: readonly (number | null | undefined)[]): MeanStd {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, std: 0, n };
  const variance = xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (n - 1);
  return { mean, std: Math.sqrt(variance), n };
}

/** Groups items by a key, keeping first-seen order of the groups. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const g = groups.get(k);
    if (g) g.push(it);
    else groups.set(k, [it]);
  }
  return groups;
}

/** y of a sorted series at x by linear interpolation; undefined outside its range. */
export function interpolate(points: readonly XY[], x: number): number | undefined {
  if (points.length === 0) return undefined;
  if (x < points[0]!.x || x > points[points.length - 1]!.x) return undefined;
  let lo = 0;
  let hi = points.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (points[mid]!.x <= x) lo = mid;
    else hi = mid;
  }
  const a = points[lo]!;
  const b = points[hi]!;
  if (a.x === x || b.x === a.x) return a.y;
  if (b.x === x) return b.y;
  return a.y + ((b.y - a.y) * (x - a.x)) / (b.x - a.x);
}

export interface AggregatePoint {
  x: number;
  mean: number;
  std: number;
  n: number;
}

/** Mean ± std of several sorted curves on the union of their x values. */
export function aggregateCurves(curves: readonly (readonly XY[])[]): AggregatePoint[] {
  const xs = [...new Set(curves.flatMap((c) => c.map((p) => p.x)))].sort((a, b) => a - b);
  const out: AggregatePoint[] = [];
  for (const x of xs) {
    const ys = curves.map((c) => interpolate(c, x));
    const s = meanStd(ys);
    if (s.n > 0) out.push({ x, mean: s.mean, std: s.std, n: s.n });
  }
  return out;
}
