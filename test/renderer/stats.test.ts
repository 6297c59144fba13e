/**
 * stats.test.ts: grouping by a parameter with mean ± std across seeds (Compare page).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateCurves, groupBy, interpolate, meanStd } from '../../src-renderer/lib/stats.js';

test('meanStd: sample std (n − 1), skips missing and non-finite', () => {
  const s = meanStd([2, 4, 4, 4, 5, 5, 7, 9]);
  assert.equal(s.mean, 5);
  assert.ok(Math.abs(s.std - Math.sqrt(32 / 7)) < 1e-12);
  assert.deepEqual(meanStd([3, null, undefined, NaN]), { mean: 3, std: 0, n: 1 });
  assert.equal(meanStd([]).n, 0);
});

test('groupBy keeps first-seen group order', () => {
  const g = groupBy([{ a: 'x', v: 1 }, { a: 'y', v: 2 }, { a: 'x', v: 3 }], (r) => r.a);
  assert.deepEqual([...g.keys()], ['x', 'y']);
  assert.deepEqual(g.get('x')!.map((r) => r.v), [1, 3]);
});

test('interpolate: linear inside, undefined outside', () => {
  const c = [{ x: 0, y: 0 }, { x: 10, y: 10 }];
  assert.equal(interpolate(c, 5), 5);
  assert.equal(interpolate(c, 10), 10);
  assert.equal(interpolate(c, 11), undefined);
});

test('aggregateCurves: mean ± std on the union of steps, no extrapolation', () => {
  const a = [{ x: 0, y: 1 }, { x: 10, y: 3 }];
  const b = [{ x: 0, y: 3 }, { x: 5, y: 3 }];
  const agg = aggregateCurves([a, b]);
  assert.deepEqual(agg.map((p) => p.x), [0, 5, 10]);
  assert.equal(agg[0]!.mean, 2);
  assert.ok(Math.abs(agg[0]!.std - Math.SQRT2) < 1e-12);
  assert.equal(agg[1]!.mean, 2.5); // a interpolates to 2 at x=5
  assert.deepEqual(agg[2], { x: 10, mean: 3, std: 0, n: 1 });
});
