/**
 * bench-attention-cuda.test.ts: the CUDA scaling sweep's bridge to the native driver
 * (lab/bench-attention-cuda.ts) with fake drivers (shell scripts): the arguments it passes, the
 * device index through CUDA_VISIBLE_DEVICES, rows streamed to onRow, and the errors: a missing
 * driver (named), CUDA unavailable (the driver's reason), a failing driver (its stderr); a
 * cancel (AbortSignal) kills a driver that would run for minutes at once, leaving no process.
 * The text table (cli/commands/bench-attention-cuda.ts), the progress line and the recorded
 * benchmark (shared by the CLI and the API) from the same rows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CudaScalingAborted, cudaIndexOf, cudaScalingArgs, cudaScalingBenchmark, cudaScalingProgress, isAbortError, runCudaScaling,
  type CudaScalingRow,
} from '../../src-main/lab/bench-attention-cuda.js';
import { cudaScalingTable } from '../../src-main/cli/commands/bench-attention-cuda.js';

const skipOnWindows = process.platform === 'win32' ? 'fake drivers are POSIX shell scripts' : false;

function fakeDriver(body: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-fake-driver-'));
  const file = path.join(dir, 'lshlab-native');
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

test('cudaScalingArgs: the driver flags for each option, nothing for unset ones', () => {
  assert.deepEqual(cudaScalingArgs({ device: 0 }), ['bench-attention', '--device', 'cuda', '--scaling', '--json']);
  assert.deepEqual(
    cudaScalingArgs({ device: 1, variants: ['exact', 'yoso:tau=8:num_hash=32'], minN: 1024, maxN: 65536, batch: 2, heads: 4, headDim: 32, budgetS: 9, quick: true }),
    ['bench-attention', '--device', 'cuda', '--scaling', '--json', '--variants', 'exact,yoso:tau=8:num_hash=32', '--min-n', '1024',
      '--max-n', '65536', '--batch', '2', '--heads', '4', '--head-dim', '32', '--variant-budget-s', '9', '--quick'],
  );
});

test('runCudaScaling: rows stream to onRow; the device index goes through CUDA_VISIBLE_DEVICES', { skip: skipOnWindows }, async () => {
  const driver = fakeDriver([
    'echo "{\\"bench\\":\\"attention-scaling\\",\\"gpu\\":\\"Fake GPU\\",\\"variant\\":\\"exact\\",\\"params\\":{},\\"n\\":512,\\"fwd_ms\\":1.5,\\"fwdbwd_ms\\":4,\\"peak_bytes\\":1048576,\\"rel_err\\":2e-7,\\"visible\\":\\"$CUDA_VISIBLE_DEVICES\\",\\"args\\":\\"$*\\"}"',
    'echo "{\\"bench\\":\\"attention-scaling\\",\\"gpu\\":\\"Fake GPU\\",\\"variant\\":\\"yoso\\",\\"params\\":{\\"tau\\":\\"8\\"},\\"n\\":1024,\\"skipped\\":\\"needs 200 GiB\\"}"',
  ].join('\n'));
  const seen: CudaScalingRow[] = [];
  const r = await runCudaScaling({ device: 3, maxN: 1024 }, (row) => seen.push(row), driver);
  assert.equal(r.gpu, 'Fake GPU');
  assert.equal(r.rows.length, 2);
  assert.deepEqual(seen, r.rows);
  assert.equal(r.rows[0]!['visible'], '3');
  assert.equal(r.rows[0]!['args'], 'bench-attention --device cuda --scaling --json --max-n 1024');
  assert.equal(r.reproduce, 'CUDA_VISIBLE_DEVICES=3 lshlab-native bench-attention --device cuda --scaling --json --max-n 1024');
  const text = cudaScalingTable(r.rows);
  assert.match(text, /exact\s+512\s+1\.5\d*\s+4\s+1 MiB\s+2\.0e-7/);
  assert.match(text, /yoso\s+tau=8\s+1024\s+-\s+-\s+-\s+needs 200 GiB/);
});

test('runCudaScaling: CUDA unavailable, a failing driver and a missing one are errors that say why', { skip: skipOnWindows }, async () => {
  const none = fakeDriver('echo \'{"bench":"attention-scaling","skipped":"CUDA unavailable: no NVIDIA driver (libcuda.so.1 not found)"}\'');
  await assert.rejects(runCudaScaling({ device: 0 }, undefined, none), /^Error: CUDA unavailable: no NVIDIA driver/);
  const bad = fakeDriver('echo "--variants: unknown variant \'dense\'" >&2\nexit 2');
  await assert.rejects(runCudaScaling({ device: 0, variants: ['dense'] }, undefined, bad), /exited 2: --variants: unknown variant 'dense'/);
  await assert.rejects(runCudaScaling({ device: 0 }, undefined, '/nonexistent/lshlab-native'), /native driver, not found at \/nonexistent\/lshlab-native/);
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('runCudaScaling: aborting the signal kills the driver at once; it rejects as an AbortError once the driver is gone', { skip: skipOnWindows, timeout: 30_000 }, async () => {
  // One row carrying the driver's pid, then a sweep of minutes (exec: the pid stays the driver's).
  const driver = fakeDriver('echo "{\\"gpu\\":\\"Fake GPU\\",\\"variant\\":\\"exact\\",\\"params\\":{},\\"n\\":512,\\"pid\\":$$}"\nexec sleep 120');
  const ac = new AbortController();
  const seen: CudaScalingRow[] = [];
  let firstRow!: () => void;
  const gotRow = new Promise<void>((r) => (firstRow = r));
  const running = runCudaScaling({ device: 0 }, (row) => {
    seen.push(row);
    firstRow();
  }, driver, ac.signal);
  await gotRow;
  const pid = Number(seen[0]!['pid']);
  assert.ok(pid > 0 && alive(pid), 'the fake driver is running');
  const t0 = Date.now();
  ac.abort();
  await assert.rejects(running, (e: unknown) => {
    assert.ok(e instanceof CudaScalingAborted);
    assert.ok(isAbortError(e));
    return true;
  });
  assert.ok(Date.now() - t0 < 5_000, `ended ${Date.now() - t0} ms after the abort`);
  assert.equal(alive(pid), false, 'no driver process is left');
  assert.equal(seen.length, 1, 'no progress after the cancel');
  // Aborted before it starts: nothing is spawned.
  await assert.rejects(runCudaScaling({ device: 0 }, undefined, '/nonexistent/lshlab-native', AbortSignal.abort()), /cancelled/);
});

test('the shared progress line and recorded benchmark (CLI and API keep the same row)', () => {
  assert.equal(cudaScalingProgress({ variant: 'yoso', params: { tau: '8' }, n: 1024, fwdbwd_ms: 3.14159 }), 'yoso tau=8 n=1024: 3.14 ms fwd+bwd');
  assert.equal(cudaScalingProgress({ variant: 'exact', params: {}, n: 2048, skipped: 'stopped: needs ~90 GiB' }), 'exact n=2048: stopped: needs ~90 GiB');
  const placed = { device: 'cuda:1', name: 'Fake GPU', why: 'no other live run of this lab uses it', precision: 'fp32' } as const;
  assert.equal(cudaIndexOf(placed), 1);
  assert.equal(cudaIndexOf({ device: 'cpu' }), undefined);
  const rows = [{ variant: 'exact', n: 512, fwd_ms: 1 }];
  const b = cudaScalingBenchmark(placed, undefined, { gpu: 'Fake GPU', rows, reproduce: 'CUDA_VISIBLE_DEVICES=1 lshlab-native ...' });
  assert.equal(b.kind, 'attention/scaling-cuda');
  assert.deepEqual(Object.keys(b.result), ['mode', 'device', 'gpu', 'rows', 'reproduce', 'lshlab']);
  assert.equal(b.result.device, 'cuda:1: Fake GPU');
  assert.deepEqual(b.config, { variants: 'all', device: 'cuda:1', deviceInfo: placed, reproduce: 'CUDA_VISIBLE_DEVICES=1 lshlab-native ...' });
  assert.equal(cudaScalingBenchmark(placed, ['exact'], { gpu: 'g', rows, reproduce: 'r' }, 'lshlab api').config['source'], 'lshlab api');
});
