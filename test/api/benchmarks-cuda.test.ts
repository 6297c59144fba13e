/**
 * benchmarks-cuda.test.ts: benchmarks.run with a CUDA device, the CUDA attention scaling sweep
 * (api/benchmarks.ts over lab/bench-attention-cuda.ts), with a fake CUDA status and fake runners
 * (no GPU needed): the contract's checks (device only for mode 'scaling', no CPU-only fields),
 * CUDA unavailable as a bad request with the loader's reason, a missing device, a fake runner's
 * rows streamed as progress and kept as kind attention/scaling-cuda as the CLI keeps them, and a
 * cancel that kills a (fake) driver at once, keeping nothing and leaving no process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLabApi } from '../../src-main/api/lab-api.js';
import { ApiError, type LabEvent } from '../../src-main/api/contract.js';
import type { LabApiOptions } from '../../src-main/api/context.js';
import { runCudaScaling, type CudaScalingOptions } from '../../src-main/lab/bench-attention-cuda.js';
import type { CudaStatus } from '../../src-main/training/device.js';

const skipOnWindows = process.platform === 'win32' ? 'fake drivers are POSIX shell scripts' : false;

const TWO_GPUS: CudaStatus = {
  compiled: true, available: true, reason: '', message: '',
  devices: [{ index: 0, name: 'Fake GPU 0' }, { index: 1, name: 'Fake GPU 1' }],
};
const NO_DRIVER: CudaStatus = {
  compiled: true, available: false, reason: 'no NVIDIA driver (libcuda.so.1 not found)',
  message: 'CUDA unavailable: no NVIDIA driver (libcuda.so.1 not found)', devices: [],
};

function withApi(cudaBench: LabApiOptions['cudaBench'], f: (api: ReturnType<typeof createLabApi>) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-bench-cuda-api-'));
    const api = createLabApi({ dataDir: dir, log: () => undefined, ...(cudaBench !== undefined ? { cudaBench } : {}) });
    try {
      await f(api);
    } finally {
      await api.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Asserts that `p` rejects with an ApiError of `code` whose message matches `re`. */
async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('benchmarks.run device: only the scaling sweep runs on CUDA; CPU-only fields are refused by name', withApi({ status: () => TWO_GPUS }, async (api) => {
  await rejectsWith(api.call('benchmarks.run', { mode: 'paper-table1', device: 'cuda' }), 'bad-request', /device: 'cuda' runs only mode 'scaling'/);
  await rejectsWith(api.call('benchmarks.run', { mode: 'single', device: 'cuda:1' }), 'bad-request', /device: 'cuda:1' runs only mode 'scaling'.*mode 'single'/);
  await rejectsWith(api.call('benchmarks.run', { mode: 'scaling', device: 'gpu' }), 'bad-request', /device: device is 'cpu', 'cuda' or 'cuda:N'/);
  await rejectsWith(api.call('benchmarks.run', { mode: 'scaling', device: 'cuda', params: { tau: 8 } }), 'bad-request', /params: not taken by the CUDA sweep/);
  await rejectsWith(api.call('benchmarks.run', { mode: 'scaling', device: 'cuda', headDim: 256 }), 'bad-request', /headDim: the CUDA kernels take head sizes up to 128/);
  // The CUDA sweep's defaults are n = 512..262144: maxSeq 256 alone is below its start.
  await rejectsWith(api.call('benchmarks.run', { mode: 'scaling', device: 'cuda', maxSeq: 256 }), 'bad-request', /minSeq must not exceed maxSeq/);
}));

test('benchmarks.run device cuda: CUDA unavailable is a bad request with the loader\'s reason; so is a missing device', async () => {
  await withApi({ status: () => NO_DRIVER, run: () => assert.fail('nothing may run') }, async (api) => {
    await rejectsWith(api.call('benchmarks.run', { mode: 'scaling', device: 'cuda' }), 'bad-request',
      /^benchmarks\.run: device: CUDA unavailable: no NVIDIA driver \(libcuda\.so\.1 not found\)$/);
    assert.deepEqual(await api.call('benchmarks.list', {}), []);
  })();
  await withApi({ status: () => TWO_GPUS, run: () => assert.fail('nothing may run') }, async (api) => {
    await rejectsWith(api.call('benchmarks.run', { mode: 'scaling', device: 'cuda:3' }), 'bad-request', /no CUDA device 3 \(this machine has cuda:0, cuda:1\)/);
  })();
});

test('benchmarks.run device cuda:1: the runner\'s rows stream as progress and are kept as attention/scaling-cuda', async () => {
  const asked: CudaScalingOptions[] = [];
  const rows = [
    { gpu: 'Fake GPU 1', variant: 'exact', params: {}, n: 512, fwd_ms: 1.5, fwdbwd_ms: 4, peak_bytes: 1 << 20, rel_err: 2e-7 },
    { gpu: 'Fake GPU 1', variant: 'yoso', params: { tau: '8' }, n: 1024, skipped: 'stopped: needs ~200 GiB' },
  ];
  await withApi({
    status: () => TWO_GPUS,
    run: async (o, onRow) => {
      asked.push(o);
      rows.forEach(onRow);
      return { gpu: 'Fake GPU 1', rows, reproduce: 'CUDA_VISIBLE_DEVICES=1 lshlab-native bench-attention --device cuda --scaling --json' };
    },
  }, async (api) => {
    const events: LabEvent[] = [];
    const off = api.events.subscribe({ kind: 'jobs' }, (e) => events.push(e));
    const r = await api.call('benchmarks.run', { mode: 'scaling', device: 'cuda:1', variants: ['exact', 'yoso'], minSeq: 512, maxSeq: 1024, backward: true, jobId: 'cuda-sweep' });
    off();
    assert.deepEqual(asked, [{ device: 1, variants: ['exact', 'yoso'], minN: 512, maxN: 1024, batch: undefined, heads: undefined, headDim: undefined, budgetS: undefined }]);
    assert.equal(r.status, 'done');
    assert.deepEqual(events.map((e) => (e.type === 'benchmark.progress' ? `${e.jobId}: ${e.line}` : e.type)),
      ['cuda-sweep: exact n=512: 4 ms fwd+bwd', 'cuda-sweep: yoso tau=8 n=1024: stopped: needs ~200 GiB']);
    assert.equal(r.benchmark?.kind, 'attention/scaling-cuda');
    const result = r.result as Record<string, unknown>;
    assert.deepEqual(Object.keys(result), ['mode', 'device', 'gpu', 'rows', 'reproduce', 'lshlab']);
    assert.equal(result['device'], 'cuda:1: Fake GPU 1');
    assert.deepEqual(result['rows'], rows);
    const kept = await api.call('benchmarks.list', { kind: 'attention/scaling-cuda' });
    assert.equal(kept.length, 1);
    assert.deepEqual(kept[0]!.result, result);
    assert.equal(kept[0]!.config['device'], 'cuda:1');
    assert.deepEqual(kept[0]!.config['variants'], ['exact', 'yoso']);
    assert.equal(kept[0]!.config['source'], 'lshlab api');
    assert.equal((kept[0]!.config['deviceInfo'] as Record<string, unknown>)['name'], 'Fake GPU 1');

    // record: false keeps nothing; a failing driver is an internal error with its message.
    const r2 = await api.call('benchmarks.run', { mode: 'scaling', device: 'cuda', record: false });
    assert.equal(r2.status === 'done' && r2.benchmark, null);
    assert.equal(asked[1]!.device, 0, 'plain cuda takes the lowest free device');
  })();
  await withApi({ status: () => TWO_GPUS, run: () => Promise.reject(new Error('lshlab-native ... exited 2: --variants: bad')) }, async (api) => {
    await rejectsWith(api.call('benchmarks.run', { mode: 'scaling', device: 'cuda' }), 'internal', /the CUDA scaling sweep failed: .*exited 2: --variants: bad/);
  })();
});

test('benchmarks.cancel stops a CUDA sweep at once: the driver is killed, status cancelled, nothing kept', { skip: skipOnWindows, timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-fake-driver-'));
  const driver = path.join(dir, 'lshlab-native');
  // One row with the driver's pid, then minutes of "sweep" (exec keeps the pid the driver's).
  fs.writeFileSync(driver, '#!/bin/sh\necho "{\\"gpu\\":\\"Fake GPU 0\\",\\"variant\\":\\"exact\\",\\"params\\":{},\\"n\\":512,\\"pid\\":$$}"\nexec sleep 120\n', { mode: 0o755 });
  let pid = 0;
  try {
    await withApi({ status: () => TWO_GPUS, run: (o, onRow, signal) => runCudaScaling(o, (row) => {
      pid = Number(row['pid']);
      onRow(row);
    }, driver, signal) }, async (api) => {
      const running = api.call('benchmarks.run', { mode: 'scaling', device: 'cuda', jobId: 'long-cuda' });
      for (let waited = 0; pid === 0 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      assert.ok(pid > 0 && alive(pid), 'the driver is running');
      assert.deepEqual(await api.call('benchmarks.cancel', { jobId: 'nope' }), { cancelled: false });
      const t0 = Date.now();
      assert.deepEqual(await api.call('benchmarks.cancel', { jobId: 'long-cuda' }), { cancelled: true });
      const r = await running;
      assert.ok(Date.now() - t0 < 5_000, `stopped ${Date.now() - t0} ms after the cancel`);
      assert.deepEqual({ ...r, seconds: 0 }, { status: 'cancelled', result: null, benchmark: null, seconds: 0 });
      assert.equal(alive(pid), false, 'the driver process is gone');
      assert.deepEqual(await api.call('benchmarks.list', {}), [], 'a cancelled sweep records nothing');
      assert.deepEqual(await api.call('benchmarks.cancel', { jobId: 'long-cuda' }), { cancelled: false }, 'it has ended');
    })();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
