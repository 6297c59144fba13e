/**
 * bench.test.ts: scaling sweep -> per-variant series; Table 1 -> columns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scalingRows, scalingSeries, table1Columns } from '../../src-renderer/lib/bench.js';

test('scalingSeries keeps ok rows of one direction, per variant, sorted by seq', () => {
  const rows = scalingRows({
    rows: [
      { variant: 'exact', seq: 256, backward: false, status: 'ok', time_s_mean: 2, peak_memory_bytes: 20 },
      { variant: 'exact', seq: 128, backward: false, status: 'ok', time_s_mean: 1, peak_memory_bytes: 10 },
      { variant: 'exact', seq: 128, backward: true, status: 'ok', time_s_mean: 3 },
      { variant: 'yoso', seq: 128, backward: false, status: 'skipped', reason: 'budget' },
    ],
  });
  const t = scalingSeries(rows, 'time_s_mean', false);
  assert.deepEqual([...t.keys()], ['exact']);
  assert.deepEqual(t.get('exact'), [{ x: 128, y: 1 }, { x: 256, y: 2 }]);
  assert.deepEqual(scalingSeries(rows, 'time_s_mean', true).get('exact'), [{ x: 128, y: 3 }]);
  assert.deepEqual(scalingRows({}), []);
});

test('table1Columns picks the variant objects', () => {
  const cols = table1Columns({ exact: { time_s_mean: 1, kflops_paper: 25.6 }, bert_lsh: { time_s_mean: 2, kflops_paper: 10.24 }, reproduce: 'x' });
  assert.deepEqual(cols.map((c) => c.name), ['exact', 'bert_lsh']);
  assert.equal(cols[1]!.values['kflops_paper'], 10.24);
  assert.equal(cols[0]!.values['dot_products_mean'], null);
});
