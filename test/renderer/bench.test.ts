/**
 * bench.test.ts: scaling sweep -> per-variant series; Table 1 -> columns; a CUDA sweep's checks
 * against the CPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cudaChecks, scalingRows, scalingSeries, table1Columns } from '../../src-renderer/lib/bench.js';

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

test('scalingRows: a CUDA sweep line becomes a forward and a forward+backward row (seconds), skips keep their reason', () => {
  const rows = scalingRows({
    rows: [
      { variant: 'yoso', params: { tau: '8', num_hash: '32' }, n: 512, fwd_ms: 1.5, fwdbwd_ms: 4, peak_bytes: 300, peak_bytes_fwd: 100 },
      { variant: 'exact', params: {}, n: 262144, skipped: 'needs 200 GiB' },
    ],
  });
  assert.deepEqual(rows, [
    { variant: 'yoso tau=8 num_hash=32', seq: 512, backward: false, status: 'ok', time_s_mean: 0.0015, peak_memory_bytes: 100 },
    { variant: 'yoso tau=8 num_hash=32', seq: 512, backward: true, status: 'ok', time_s_mean: 0.004, peak_memory_bytes: 300 },
    { variant: 'exact', seq: 262144, backward: false, status: 'skipped', reason: 'needs 200 GiB' },
    { variant: 'exact', seq: 262144, backward: true, status: 'skipped', reason: 'needs 200 GiB' },
  ]);
  assert.deepEqual([...scalingSeries(rows, 'time_s_mean', true).keys()], ['yoso tau=8 num_hash=32']);
});

test('cudaChecks: one row per configuration the CUDA sweep checked against the CPU, with its rel. errors', () => {
  const result = {
    rows: [
      { variant: 'exact', params: {}, n: 512, fwd_ms: 1, fwdbwd_ms: 3, rel_err: 2e-7, rel_err_dqkv: 5e-7 },
      { variant: 'exact', params: {}, n: 1024, fwd_ms: 2, fwdbwd_ms: 6, rel_err: null },
      { variant: 'yoso', params: { tau: '8', num_hash: '32' }, n: 512, fwd_ms: 1, fwdbwd_ms: 2, rel_err: 1e-6 },
      { variant: 'reformer', params: {}, n: 512, error: 'out of memory' },
    ],
  };
  assert.deepEqual(cudaChecks(result), [
    { variant: 'exact', seq: 512, relErr: 2e-7, relErrGrad: 5e-7 },
    { variant: 'yoso tau=8 num_hash=32', seq: 512, relErr: 1e-6, relErrGrad: null },
  ]);
  assert.deepEqual(cudaChecks({ rows: [{ variant: 'exact', seq: 128, backward: false, status: 'ok' }] }), []);
  assert.deepEqual(cudaChecks({}), []);
});
