/**
 * precision.test.ts: `--precision` on `lshlab train` and `lshlab bench train` through main() on a
 * temporary lab, on a machine without a GPU: tf32 and bf16 on the CPU fail (exit 1) naming
 * --precision and create no run; unknown values are usage errors (exit 2); fp32 trains, is
 * recorded with the run (trainConfig.precision, deviceInfo.precision) and shown by `runs show`;
 * `bench train --json` carries the precision and the yardstick fields (the GPU-only ones null).
 * The CUDA side of the same plumbing (tf32 and bf16 recorded, cuBLASLt peaks, device memory) is
 * checked by the native tests "cuda/train tf32 ..." and "cuda/train bf16 ..." in the host
 * emulation and on a GPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, storePath } from '../../src-main/store/index.js';
import { lshlab, TINY_MLM } from './run-cli.js';

test('train --precision: tf32 and bf16 need CUDA, fp32 is recorded and shown', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-precision-'));
  try {
    const tf32 = await lshlab(dir, ['train', ...TINY_MLM, '--steps', '2', '--device', 'cpu', '--precision', 'tf32']);
    assert.equal(tf32.code, 1, tf32.stderr);
    assert.match(tf32.stderr, /--precision tf32 needs a CUDA device, and this run would train on the CPU \(--device cpu\); use --precision fp32/);
    const bf16 = await lshlab(dir, ['train', ...TINY_MLM, '--steps', '2', '--device', 'cpu', '--precision', 'bf16']);
    assert.equal(bf16.code, 1, bf16.stderr);
    assert.match(bf16.stderr, /--precision bf16 needs a CUDA device, and this run would train on the CPU \(--device cpu\); use --precision fp32/);
    for (const [value, re] of [['fp16', /invalid value for --precision: unknown precision 'fp16' \(expected fp32, tf32 or bf16/], ['fp64', /invalid value for --precision: unknown precision 'fp64'/]] as const) {
      const r = await lshlab(dir, ['train', ...TINY_MLM, '--steps', '2', '--precision', value]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
    }
    {
      const store = openStore(storePath(dir));
      try {
        assert.equal(store.runs.list().length, 0, 'a refused precision creates no run');
      } finally {
        store.close();
      }
    }
    const ok = await lshlab(dir, ['train', ...TINY_MLM, '--steps', '2', '--device', 'cpu', '--precision', 'fp32', '--name', 'fp32-run']);
    assert.equal(ok.code, 0, ok.stderr);
    const show = await lshlab(dir, ['runs', 'show', 'fp32-run']);
    assert.match(show.stdout, /^device\s+cpu \(.+, fp32\)/m);
    const store = openStore(storePath(dir));
    try {
      const run = store.runs.list()[0]!;
      assert.equal(run.trainConfig['precision'], 'fp32');
      assert.equal((run.trainConfig['deviceInfo'] as Record<string, unknown>)['precision'], 'fp32');
    } finally {
      store.close();
    }
    // A resumed run inherits the precision; a tf32 flag on the CPU is refused there too.
    const resumed = await lshlab(dir, ['train', '--from-checkpoint', 'fp32-run', '--steps', '3', '--device', 'cpu', '--precision', 'tf32']);
    assert.equal(resumed.code, 1);
    assert.match(resumed.stderr, /--precision tf32 needs a CUDA device/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bench train --precision: refused on the CPU for tf32 and bf16; --json carries precision and the yardstick', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-precision-'));
  try {
    const tf32 = await lshlab(dir, ['bench', 'train', '--seq', '8', '--batch', '2', '--steps', '1', '--warmup', '0', '--device', 'cpu', '--precision', 'tf32']);
    assert.equal(tf32.code, 1);
    assert.match(tf32.stderr, /--precision tf32 needs a CUDA device/);
    const bf16 = await lshlab(dir, ['bench', 'train', '--seq', '8', '--batch', '2', '--steps', '1', '--warmup', '0', '--device', 'cpu', '--precision', 'bf16']);
    assert.equal(bf16.code, 1);
    assert.match(bf16.stderr, /--precision bf16 needs a CUDA device/);
    const unknown = await lshlab(dir, ['bench', 'train', '--precision', 'fp16']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown precision 'fp16'/);
    const r = await lshlab(dir, ['bench', 'train', '--seq', '8', '--batch', '2', '--steps', '1', '--warmup', '0', '--device', 'cpu', '--precision', 'fp32', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(j['precision'], 'fp32');
    // The CPU yardstick as before; the GPU-only fields are present and null.
    assert.equal(j['peak_by_precision'], null);
    assert.equal(j['peak_memory_bytes'], null);
    assert.equal(j['peak_memory_method'], null);
    if ((j['peak_gflops'] as number) > 0) {
      assert.match(String(j['peak_method']), /FMA loop, \d+ thread\(s\)/);
      assert.equal(typeof j['fraction_of_peak'], 'number');
    }
    const text = await lshlab(dir, ['bench', 'train', '--seq', '8', '--batch', '2', '--steps', '1', '--warmup', '0', '--device', 'cpu']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^precision\s+fp32$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
