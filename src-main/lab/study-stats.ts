/**
 * study-stats.ts: the statistics of a study report cell: the values of one measure over the seeds
 * of one variant -> mean, sample standard deviation (n - 1 in the denominator) and a 95%
 * confidence interval for the mean, mean +- t(0.975, n - 1) * std / sqrt(n), with Student's t
 * quantile from a table for 1..30 degrees of freedom and the normal quantile 1.959964 above (the
 * t quantile at 30 degrees of freedom is 2.042, at 60 it is 2.000: the table ends where the
 * difference stops mattering at the precision a report prints). One value gives a mean and
 * nothing else. Non-finite values (a diverged run's NaN loss) are left out and counted. Pure.
 */

/** t quantiles at 0.975 (two-sided 95%) for degrees of freedom 1..30 (index df - 1). */
export const T975: readonly number[] = [
  12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622, 2.2281,
  2.201, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.093, 2.086,
  2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];
export const Z975 = 1.959964;

/** Student's t quantile at 0.975 for `df` degrees of freedom (df >= 1). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`degrees of freedom must be an integer >= 1, got ${df}`);
  return df <= T975.length ? (T975[df - 1] as number) : Z975;
}

export interface SampleStats {
  /** Finite values used. */
  n: number;
  /** Values left out because they were NaN or infinite. */
  nonFinite: number;
  mean: number | null;
  /** Sample standard deviation; null when n < 2. */
  std: number | null;
  /** Half-width of the 95% interval; null when n < 2. */
  ciHalf: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  values: number[];
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('mean of no values');
  // Two-pass (subtract a first guess) keeps precision when the values are large and close.
  const m0 = xs.reduce((a, b) => a + b, 0) / xs.length;
  return m0 + xs.reduce((a, b) => a + (b - m0), 0) / xs.length;
}

/** Sample standard deviation (denominator n - 1); needs two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) throw new RangeError('sample standard deviation needs at least two values');
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) * (b - m), 0) / (xs.length - 1));
}

export function sampleStats(all: readonly (number | null)[]): SampleStats {
  const present = all.filter((v): v is number => v !== null);
  const values = present.filter(Number.isFinite);
  const n = values.length;
  const base = { n, nonFinite: present.length - n, values };
  if (n === 0) return { ...base, mean: null, std: null, ciHalf: null, ciLow: null, ciHigh: null };
  const m = mean(values);
  if (n === 1) return { ...base, mean: m, std: null, ciHalf: null, ciLow: null, ciHigh: null };
  const s = sampleStd(values);
  const half = (tQuantile975(n - 1) * s) / Math.sqrt(n);
  return { ...base, mean: m, std: s, ciHalf: half, ciLow: m - half, ciHigh: m + half };
}

/** The 95% interval, or [mean, mean] for a single value (the best that one value can say). */
function span(s: SampleStats): [number, number] | null {
  if (s.ciLow !== null && s.ciHigh !== null) return [s.ciLow, s.ciHigh];
  return s.mean !== null ? [s.mean, s.mean] : null;
}

/** Whether two intervals are disjoint (a single value counts as a point; no value: false). */
export function intervalsDisjoint(a: SampleStats, b: SampleStats): boolean {
  const x = span(a);
  const y = span(b);
  if (!x || !y) return false;
  return x[1] < y[0] || y[1] < x[0];
}

/**
 * Which of `cells` (one per variant) is better than every other with disjoint 95% intervals:
 * the index of the best mean (lowest or highest as `better` says) if its interval overlaps no
 * other cell's interval, else null. A cell without an interval (n < 2) never wins; as a rival it
 * counts as the point of its one value. A cell without a mean is not compared.
 */
export function significantBest(cells: readonly SampleStats[], better: 'lower' | 'higher'): number | null {
  let best = -1;
  cells.forEach((c, i) => {
    if (c.mean === null) return;
    const b = cells[best];
    if (best < 0 || (b && (better === 'lower' ? c.mean < (b.mean as number) : c.mean > (b.mean as number)))) best = i;
  });
  if (best < 0) return null;
  const winner = cells[best] as SampleStats;
  if (winner.ciHalf === null) return null;
  const others = cells.filter((c, i) => i !== best && c.mean !== null);
  if (others.length === 0) return null;
  return others.every((c) => intervalsDisjoint(winner, c)) ? best : null;
}
