// study-stats.test.ts: the report's statistics against values computed by hand: mean, sample std
// (n - 1), the 95% interval with Student's t (table for df 1..30, normal above), one value (no
// std, no interval), non-finite values left out, and which variant is bold (disjoint intervals).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intervalsDisjoint, mean, sampleStats, sampleStd, significantBest, tQuantile975, Z975 } from '../../src-main/lab/study-stats.js';

const close = (a: number | null, b: number, eps = 1e-6, what = ''): void => {
  assert.ok(a !== null && Math.abs(a - b) <= eps, `${what}: ${a} is not ${b}`);
};

test('mean, sample std and 95% interval of 1, 2, 3, 4 (hand-computed)', () => {
  // mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; std = sqrt(5 / 3) = 1.2909944;
  // t(0.975, 3) = 3.1824; half = 3.1824 * 1.2909944 / sqrt(4) = 2.0542303.
  const s = sampleStats([1, 2, 3, 4]);
  assert.equal(s.n, 4);
  close(s.mean, 2.5, 1e-12, 'mean');
  close(s.std, 1.2909944487, 1e-9, 'std');
  close(s.ciHalf, 2.0542303, 1e-6, 'half');
  close(s.ciLow, 0.4457697, 1e-6, 'low');
  close(s.ciHigh, 4.5542303, 1e-6, 'high');
});

test('three seeds: 5.6068, 5.5512, 5.4955 (hand-computed)', () => {
  // mean = 16.6535 / 3 = 5.5511667; deviations 0.0556333, 0.0000333, -0.0556667;
  // sum of squares = 0.00309507 + 0.0000000011 + 0.00309878 = 0.00619385; std = sqrt(0.00309693) = 0.0556501;
  // half = 4.3027 * 0.0556501 / sqrt(3) = 0.1382447.
  const s = sampleStats([5.6068, 5.5512, 5.4955]);
  close(s.mean, 5.5511667, 1e-6, 'mean');
  close(s.std, 0.0556501, 1e-6, 'std');
  close(s.ciLow, 5.5511667 - 0.1382447, 1e-5, 'low');
  close(s.ciHigh, 5.5511667 + 0.1382447, 1e-5, 'high');
});

test('two values: t with one degree of freedom (12.7062)', () => {
  // 2 and 4: mean 3, std sqrt(2); half = 12.7062 * sqrt(2) / sqrt(2) = 12.7062.
  const s = sampleStats([2, 4]);
  close(s.std, Math.SQRT2, 1e-12, 'std');
  close(s.ciHalf, 12.7062, 1e-9, 'half');
  close(s.ciLow, -9.7062, 1e-9, 'low');
});

test('one value: a mean, no std, no interval; none: nothing', () => {
  const one = sampleStats([7.25]);
  assert.equal(one.mean, 7.25);
  assert.equal(one.std, null);
  assert.equal(one.ciLow, null);
  assert.equal(one.ciHalf, null);
  const none = sampleStats([null, null]);
  assert.equal(none.n, 0);
  assert.equal(none.mean, null);
});

test('NaN and infinities are left out and counted; missing values are ignored', () => {
  const s = sampleStats([1, NaN, 3, Infinity, null]);
  assert.equal(s.n, 2);
  assert.equal(s.nonFinite, 2);
  assert.equal(s.mean, 2);
  assert.deepEqual(s.values, [1, 3]);
});

test('t quantiles: the table for df 1..30, the normal quantile above', () => {
  assert.equal(tQuantile975(1), 12.7062);
  assert.equal(tQuantile975(2), 4.3027);
  assert.equal(tQuantile975(10), 2.2281);
  assert.equal(tQuantile975(30), 2.0423);
  assert.equal(tQuantile975(31), Z975);
  assert.throws(() => tQuantile975(0), /degrees of freedom/);
  // 40 values 0..39: mean 19.5, std = sqrt(40 * 41 / 12 * ... ) computed directly; half uses 1.959964.
  const xs = Array.from({ length: 40 }, (_, i) => i);
  const s = sampleStats(xs);
  const std = Math.sqrt(xs.reduce((a, x) => a + (x - 19.5) ** 2, 0) / 39);
  close(s.ciHalf, (1.959964 * std) / Math.sqrt(40), 1e-9, 'half n=40');
});

test('mean keeps precision for large close values; std needs two values', () => {
  close(mean([1e9 + 1, 1e9 + 2, 1e9 + 3]), 1e9 + 2, 1e-6, 'mean');
  close(sampleStd([1e9 + 1, 1e9 + 2, 1e9 + 3]), 1, 1e-6, 'std');
  assert.throws(() => sampleStd([1]), /at least two/);
  assert.throws(() => mean([]), /no values/);
});

test('bold: the best mean only when its interval overlaps no other', () => {
  const a = sampleStats([1.0, 1.1, 0.9]); // 1.0 +- 0.248
  const b = sampleStats([2.0, 2.1, 1.9]); // 2.0 +- 0.248
  const c = sampleStats([1.2, 1.3, 1.1]); // overlaps a
  assert.ok(intervalsDisjoint(a, b));
  assert.ok(!intervalsDisjoint(a, c));
  assert.equal(significantBest([a, b], 'lower'), 0);
  assert.equal(significantBest([a, b], 'higher'), 1);
  assert.equal(significantBest([a, b, c], 'lower'), null, 'a overlaps c');
  assert.equal(significantBest([b, a, c], 'higher'), 0, 'b is clear of both');
  // A single seed has no interval: it is never bold; as a rival it is the point of its value.
  assert.equal(significantBest([sampleStats([1]), b], 'lower'), null);
  assert.equal(significantBest([a, sampleStats([5])], 'lower'), 0, '5 lies outside [0.75, 1.25]');
  assert.equal(significantBest([a, sampleStats([1.2])], 'lower'), null, '1.2 lies inside a\'s interval');
  assert.ok(intervalsDisjoint(sampleStats([1]), sampleStats([2])), 'two points');
  // Variants without a value are not compared.
  assert.equal(significantBest([a, sampleStats([]), b], 'lower'), 0);
  assert.equal(significantBest([a], 'lower'), null, 'nothing to beat');
});
