/**
 * cuda-graphs.test.ts: the run setting `--cuda-graphs on|off` (CUDA steps replayed as graphs)
 * without a GPU: a bad value is a usage error naming the flag (exit 2, no run); `off` is kept in
 * the run's spec and reaches the engine's TrainConfig (trainConfigOf); the API schema takes a
 * boolean only; `bench train --json` carries the graph fields (null on the CPU). That a graph
 * step gives the eager step's results bit for bit is the native test "cuda/graph ..." (host
 * emulation in CI, a GPU in bench/gpu-check.sh).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, storePath } from '../../src-main/store/index.js';
import { defaultSpec, SpecError, trainConfigOf, validateSpec } from '../../src-main/training/spec.js';
import { runSpecFields } from '../../src-main/api/run-spec-schema.js';
import { lshlab, TINY_MLM } from './run-cli.js';

test('trainConfigOf sends cudaGraphs only when off; validateSpec names a non-boolean', () => {
  const base = defaultSpec({ task: 'mlm', dataset: 'synthetic:random', steps: 10 });
  assert.equal('cudaGraphs' in trainConfigOf(base, 10), false);
  assert.equal('cudaGraphs' in trainConfigOf({ ...base, cudaGraphs: true }, 10), false);
  assert.equal(trainConfigOf({ ...base, cudaGraphs: false }, 10).cudaGraphs, false);
  assert.throws(() => validateSpec({ ...base, cudaGraphs: 'off' as unknown as boolean }), (e: unknown) => e instanceof SpecError && /cudaGraphs/.test(e.message));
  assert.equal(runSpecFields.safeParse({ task: 'mlm', dataset: 'synthetic:random', cudaGraphs: false }).success, true);
  assert.equal(runSpecFields.safeParse({ task: 'mlm', dataset: 'synthetic:random', cudaGraphs: 'off' }).success, false);
});

test('train --cuda-graphs: a bad value is a usage error; off is recorded with the run', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-graphs-'));
  try {
    const bad = await lshlab(dir, ['train', ...TINY_MLM, '--steps', '2', '--cuda-graphs', 'maybe']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /invalid value for --cuda-graphs: 'maybe' \(expected on or off\)/);
    const ok = await lshlab(dir, ['train', ...TINY_MLM, '--steps', '2', '--device', 'cpu', '--cuda-graphs', 'off', '--name', 'g']);
    assert.equal(ok.code, 0, ok.stderr);
    const store = openStore(storePath(dir));
    try {
      const runs = store.runs.list();
      assert.equal(runs.length, 1, 'the refused value created no run');
      assert.equal(runs[0]!.trainConfig['cudaGraphs'], false);
      // The CPU has no device time: no train/device_s points.
      assert.equal(store.metrics.keys(runs[0]!.id).includes('train/device_s'), false);
    } finally {
      store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bench train --cuda-graphs: checked; --json has the graph fields, null on the CPU', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-graphs-'));
  try {
    const bad = await lshlab(dir, ['bench', 'train', '--cuda-graphs', 'yes']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid value for --cuda-graphs: 'yes'/);
    const r = await lshlab(dir, ['bench', 'train', '--seq', '8', '--batch', '2', '--steps', '1', '--warmup', '0', '--device', 'cpu', '--cuda-graphs', 'off', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(j['cuda_graphs'], null);
    assert.equal(j['cuda_graph_steps'], null);
    assert.equal(j['device_step_ms'], null);
    assert.doesNotMatch(String(j['reproduce']), /cuda-graphs/, 'the CPU has no graphs to switch off');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
