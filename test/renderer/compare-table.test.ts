/**
 * compare-table.test.ts: bold-best selection, grouping by a setting with mean ± std, wall-time axis.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestIndices, groupComparison, settingOf, wallTimeOf } from '../../src-renderer/lib/compare-table.js';

test('bestIndices: lower loss, higher accuracy; ties; nothing to compare', () => {
  assert.deepEqual(bestIndices('train_loss', [2.1, 1.9, null]), [1]);
  assert.deepEqual(bestIndices('accuracy', [0.5, 0.7, 0.7]), [1, 2]);
  assert.deepEqual(bestIndices('accuracy', [0.5, null]), []);
  assert.deepEqual(bestIndices('accuracy', [0.5, 0.5]), []);
  assert.deepEqual(bestIndices('unknown', [1, 2]), []);
  assert.deepEqual(bestIndices('collisions', [1365, 0]), []);
  assert.deepEqual(bestIndices('train_loss', [NaN, 3, 4]), [1]);
});

test('settingOf reads dotted paths', () => {
  assert.equal(settingOf({ attentionParams: { bands: 2 } }, 'attentionParams.bands'), '2');
  assert.equal(settingOf({}, 'model.hiddenSize'), '—');
});

test('groupComparison: mean ± std across seeds per group', () => {
  const settings = [{ attention: 'exact', seed: '1' }, { attention: 'bert-lsh', seed: '1' }, { attention: 'exact', seed: '2' }];
  const rows = [{ key: 'train_loss', values: [2, 3, 4] }];
  const g = groupComparison([10, 11, 12], settings, rows, 'attention');
  assert.deepEqual(g.map((x) => x.group), ['exact', 'bert-lsh']);
  assert.deepEqual(g[0]!.runs, [10, 12]);
  assert.equal(g[0]!.stats[0]!.mean, 3);
  assert.ok(Math.abs(g[0]!.stats[0]!.std - Math.SQRT2) < 1e-12);
  assert.deepEqual(g[1]!.stats[0], { mean: 3, std: 0, n: 1 });
});

test('wallTimeOf accumulates bucket durations and interpolates', () => {
  const b = (lastStep: number, min: number, max: number, count: number) => ({ stepFrom: 0, stepTo: lastStep, min, max, last: max, lastStep, count });
  const t = wallTimeOf([b(10, 0.1, 0.3, 10), b(20, 0.5, 0.5, 10)]);
  assert.ok(Math.abs(t(10) - 2) < 1e-12);
  assert.ok(Math.abs(t(20) - 7) < 1e-12);
  assert.ok(Math.abs(t(5) - 1) < 1e-12);
  assert.ok(Number.isNaN(wallTimeOf([])(3)));
});
