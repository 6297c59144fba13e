/**
 * device.test.ts: `--device` on `lshlab train` and the bench commands through main() on a
 * temporary lab: cuda fails (exit 1) with the reason and creates no run; auto trains on the CPU,
 * prints the device line and records the device and its name (runs show); a bogus value is a
 * usage error naming the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, storePath } from '../../src-main/store/index.js';
import { lshlab, TINY_MLM } from './run-cli.js';

const tiny = TINY_MLM;
// Without a GPU the loader's reason; with one, CUDA training is not implemented yet.
const CUDA_REFUSAL = /lshlab: error: (CUDA unavailable: \S.*|CUDA training is not implemented yet \(the CUDA backend runs kernels only; see docs\/gpu-status\.md\))/;

test('train --device: cuda fails with the reason, auto trains on the CPU and says why, bogus is a usage error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-device-'));
  try {
    for (const d of ['cuda', 'cuda:0']) {
      const r = await lshlab(dir, ['train', ...tiny, '--steps', '2', '--device', d]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, CUDA_REFUSAL);
    }
    const bogus = await lshlab(dir, ['train', ...tiny, '--steps', '2', '--device', 'bogus']);
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /invalid value for --device: 'bogus' \(expected auto, cpu, cuda or cuda:N\)/);
    {
      const store = openStore(storePath(dir));
      try {
        assert.equal(store.runs.list().length, 0, 'a refused device creates no run');
      } finally {
        store.close();
      }
    }

    const auto = await lshlab(dir, ['train', ...tiny, '--steps', '2', '--device', 'auto', '--name', 'auto-run']);
    assert.equal(auto.code, 0, auto.stderr);
    assert.match(auto.stderr, /device: cpu \((CUDA unavailable: .+|CUDA training not implemented yet)\) on \S/);
    const show = await lshlab(dir, ['runs', 'show', 'auto-run']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^device\s+cpu \(.+, fp32\), 1 thread\(s\): (CUDA unavailable|CUDA training not implemented yet)/m);
    const store = openStore(storePath(dir));
    try {
      const run = store.runs.list()[0]!;
      assert.equal(run.device, 'cpu');
      assert.equal(run.trainConfig['device'], 'auto');
      const info = run.trainConfig['deviceInfo'] as Record<string, unknown>;
      assert.equal(info['device'], 'cpu');
      assert.equal(typeof info['name'], 'string');
      assert.equal(info['precision'], 'fp32');
    } finally {
      store.close();
    }
    // The resumed run keeps training (deviceInfo is not part of the spec it inherits).
    const cpu = await lshlab(dir, ['train', '--from-checkpoint', 'auto-run', '--steps', '3', '--device', 'cpu', '--name', 'cpu-run']);
    assert.equal(cpu.code, 0, cpu.stderr);
    assert.match(cpu.stderr, /device: cpu \(requested\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bench train / bench attention --device: same resolver, recorded with --record', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-device-'));
  try {
    const refused = await lshlab(dir, ['bench', 'attention', '--variant', 'exact', '--seq', '16', '--iters', '1', '--device', 'cuda']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, CUDA_REFUSAL);
    const bad = await lshlab(dir, ['bench', 'train', '--device', 'gpu']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid value for --device/);

    const att = await lshlab(dir, ['bench', 'attention', '--variant', 'exact', '--seq', '16', '--iters', '1', '--device', 'auto', '--record', '--json']);
    assert.equal(att.code, 0, att.stderr);
    assert.match(att.stderr, /bench attention: device: cpu \(/);
    const j = JSON.parse(att.stdout) as Record<string, unknown>;
    assert.match(String(j['device']), /^cpu: /);
    assert.equal(j['precision'], 'fp32');
    const tr = await lshlab(dir, ['bench', 'train', '--seq', '8', '--batch', '2', '--steps', '1', '--warmup', '0', '--device', 'cpu', '--record']);
    assert.equal(tr.code, 0, tr.stderr);
    assert.match(tr.stdout, /^device\s+cpu: /m);
    const store = openStore(storePath(dir));
    try {
      const rows = store.benchmarks.list();
      assert.equal(rows.length, 2);
      for (const b of rows) {
        const info = b.config['deviceInfo'] as Record<string, unknown>;
        assert.equal(info['device'], 'cpu');
        assert.equal(info['precision'], 'fp32');
      }
      assert.deepEqual(rows.map((b) => b.config['device']).sort(), ['auto', 'cpu']);
    } finally {
      store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
