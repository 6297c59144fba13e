/**
 * series.test.ts: bucketed series to chart points, live appends, rate, per-head densities.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendPoint, bucketsToPoints, headDensities, recentRate } from '../../src-renderer/lib/series.js';

test('buckets become line (last), min and max at the bucket last step; non-finite dropped', () => {
  const b = (lastStep: number, min: number, max: number, last: number) => ({ stepFrom: lastStep - 9, stepTo: lastStep, min, max, last, lastStep, count: 10 });
  const p = bucketsToPoints([b(10, 1, 3, 2), b(20, 0.5, NaN, NaN)]);
  assert.deepEqual(p.line, [{ x: 10, y: 2 }]);
  assert.deepEqual(p.min, [{ x: 10, y: 1 }, { x: 20, y: 0.5 }]);
  assert.deepEqual(p.max, [{ x: 10, y: 3 }]);
});

test('appendPoint keeps x increasing; a replayed step replaces the tail', () => {
  let pts = [{ x: 1, y: 1 }, { x: 2, y: 2 }, { x: 3, y: 3 }];
  pts = appendPoint(pts, 4, 4);
  assert.equal(pts.length, 4);
  pts = appendPoint(pts, 2, 9);
  assert.deepEqual(pts, [{ x: 1, y: 1 }, { x: 2, y: 9 }]);
  assert.equal(appendPoint(pts, 5, NaN).length, 2);
});

test('recentRate', () => {
  assert.equal(recentRate([{ t: 0, step: 0 }, { t: 2000, step: 10 }]), 5);
  assert.equal(recentRate([{ t: 0, step: 0 }]), 0);
});

test('headDensities builds the layer x head grid', () => {
  const d = headDensities([
    { key: 'attn/layer0/head0/density', last: 0.25 },
    { key: 'attn/layer1/head1/density', last: 0.5 },
    { key: 'attn/layer1/density', last: 0.4 },
    { key: 'train/loss', last: 3 },
  ]);
  assert.equal(d.layers, 2);
  assert.equal(d.heads, 2);
  assert.deepEqual(d.grid, [[0.25, null], [null, 0.5]]);
  assert.deepEqual(d.layerMeans, [null, 0.4]);
});
