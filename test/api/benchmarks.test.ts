/**
 * benchmarks.test.ts: benchmarks.run measures in a process of its own and records its result;
 * benchmarks.cancel stops a long one promptly: the call ends with status 'cancelled', nothing is
 * recorded, and the benchmark process is gone. Unknown job ids, repeated cancels and job ids of
 * other kinds are answered {cancelled: false}; an engine error about the input is a bad request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLabApi } from '../../src-main/api/lab-api.js';
import { ApiError } from '../../src-main/api/contract.js';
import { forkBenchLauncher } from '../../src-main/lab/bench-process.js';

/** A lab API over a fresh data directory whose benchmark processes' pids are recorded. */
function withApi(f: (api: ReturnType<typeof createLabApi>, pids: number[]) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-bench-api-'));
    const pids: number[] = [];
    const api = createLabApi({
      dataDir: dir,
      log: () => undefined,
      benchLauncher: () => {
        const child = forkBenchLauncher();
        if (child.pid !== undefined) pids.push(child.pid);
        return child;
      },
    });
    try {
      await f(api, pids);
    } finally {
      await api.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('benchmarks.run measures in a child process and records the result', withApi(async (api, pids) => {
  const r = await api.call('benchmarks.run', { mode: 'paper-table1' });
  assert.equal(r.status, 'done');
  assert.ok(r.result && typeof r.result['exact'] === 'object', 'Table 1 has an exact column');
  assert.equal(r.benchmark?.kind, 'attention/paper-table1');
  assert.equal(pids.length, 1);
  assert.deepEqual((await api.call('benchmarks.list', {})).map((b) => b.id), [r.benchmark!.id]);
}));

test('benchmarks.cancel stops a running benchmark at once: status cancelled, no result rows', { timeout: 60_000 }, withApi(async (api, pids) => {
  // Far more work than the test waits for: thousands of timed calls at n = 2048.
  const running = api.call('benchmarks.run', { mode: 'single', variant: 'exact', seq: 2048, iters: 1_000_000, jobId: 'long-bench' });
  let ended = false;
  void running.then(() => (ended = true), () => (ended = true));
  // Until its process has started and loaded the engine (it measures from then on).
  for (let waited = 0; pids.length === 0 || waited < 500; waited += 50) await new Promise((r) => setTimeout(r, 50));
  assert.equal(ended, false, 'the long benchmark must still be running');
  assert.deepEqual(await api.call('benchmarks.cancel', { jobId: 'nope' }), { cancelled: false });

  const t0 = Date.now();
  assert.deepEqual(await api.call('benchmarks.cancel', { jobId: 'long-bench' }), { cancelled: true });
  const r = await running;
  const stoppedMs = Date.now() - t0;
  assert.equal(r.status, 'cancelled');
  assert.equal(r.result, null);
  assert.equal(r.benchmark, null);
  assert.ok(stoppedMs < 5_000, `stopped ${stoppedMs} ms after the cancel`);
  assert.equal(alive(pids[0]!), false, 'the benchmark process is gone');
  assert.deepEqual(await api.call('benchmarks.list', {}), [], 'a cancelled benchmark records nothing');
  assert.deepEqual(await api.call('benchmarks.cancel', { jobId: 'long-bench' }), { cancelled: false }, 'it has ended');

  // The job id is free again.
  const r2 = await api.call('benchmarks.run', { mode: 'paper-table1', jobId: 'long-bench', record: false });
  assert.equal(r2.status, 'done');
  assert.equal(r2.benchmark, null, 'record: false keeps nothing');
}));

test('benchmarks.run: an engine error about the input is a bad request naming it', withApi(async (api) => {
  await assert.rejects(api.call('benchmarks.run', { mode: 'single', variant: 'bert-lsh', params: { no_such_param: 1 } }), (e: unknown) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.code, 'bad-request');
    assert.match(e.message, /no_such_param/);
    return true;
  });
}));
