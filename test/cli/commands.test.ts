import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src-main/engine/index.js';

const BIN = path.join(packageRoot(), 'bin', 'lshlab.js');

function lshlab(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('lshlab info --json prints one JSON object', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-data-'));
  try {
    const r = lshlab(['info', '--json', '--threads', '1', '--data-dir', dataDir]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown> & { cpu: Record<string, unknown>; cuda: Record<string, unknown> };
    assert.match(String(j['lshlab']), /^\d+\.\d+\.\d+/);
    assert.equal(j['node'], process.versions.node);
    assert.equal(typeof j['engine'], 'string');
    assert.equal(typeof j.cpu['model'], 'string');
    assert.equal(typeof j.cpu['logical_cores'], 'number');
    assert.equal(j['threads'], 1);
    assert.equal(typeof j['gemm_kernel'], 'string');
    assert.equal(typeof j.cuda['compiled'], 'boolean');
    assert.equal(typeof j.cuda['available'], 'boolean');
    assert.equal(typeof j.cuda['reason'], 'string');
    const devices = j['devices'] as Array<Record<string, unknown>>;
    assert.equal(devices[0]?.['kind'], 'cpu');
    assert.equal(devices.length, 1 + (j.cuda['devices'] as unknown[]).length);
    assert.equal(j['data_dir'], dataDir);
    assert.equal(j['data_dir_source'], 'flag');
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('lshlab info (text) names the engine and CUDA status', () => {
  const r = lshlab(['info']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^lshlab\s+\d+\.\d+\.\d+/m);
  assert.match(r.stdout, /^cuda\s+(available|compiled, unavailable: \S|not compiled in: \S)/m);
});

test('lshlab bench gemm --json reports gflops > 0', () => {
  const r = lshlab(['bench', 'gemm', '--m', '64', '--n', '64', '--k', '64', '--iters', '20', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(j['m'], 64);
  assert.ok((j['gflops'] as number) > 0);
  assert.equal(j['iters'], 20);
  assert.match(String(j['device']), /^cpu: /);
  assert.match(String(j['reproduce']), /^lshlab bench gemm --m 64 --n 64 --k 64 /);
});

test('lshlab bench train --json runs a tiny benchmark', () => {
  const r = lshlab(['bench', 'train', '--seq', '16', '--batch', '2', '--steps', '2', '--warmup', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, unknown>;
  for (const k of ['tokens_per_s', 'flops_per_token', 'gflops', 'seconds']) {
    assert.ok(typeof j[k] === 'number' && (j[k] as number) > 0, `${k} = ${String(j[k])}`);
  }
  assert.equal(j['steps'], 2);
  assert.equal(typeof j['threads'], 'number');
  assert.match(String(j['device']), /^cpu: /);
  assert.equal(typeof j['gemm_kernel'], 'string');
  assert.ok(Number.isFinite(j['final_loss']));
  assert.match(String(j['reproduce']), /^lshlab bench train --seq 16 --batch 2 --steps 2 --warmup 1 --seed 42/);
  assert.match(r.stderr, /bench train/); // progress goes to stderr, not stdout
});

test('lshlab check --only runs a subset and --json parses', () => {
  const r = lshlab(['check', '--only', 'op/linear', '--json']);
  const j = JSON.parse(r.stdout) as { passed: number; failed: number; results: Array<{ name: string; passed: boolean }> };
  assert.ok(j.results.length >= 1);
  assert.ok(j.results.every((x) => x.name.startsWith('op/linear')));
  assert.equal(r.code, j.failed > 0 ? 1 : 0);
  const none = lshlab(['check', '--only', 'no-such-check']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no gradient check matches/);
});

test('usage errors exit 2 from the real binary', () => {
  const r = lshlab(['bench', 'gemm', '--m', '8', '--n', '8', '--k', '8', '--nope']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown flag --nope/);
  assert.equal(r.stdout, '');
});
