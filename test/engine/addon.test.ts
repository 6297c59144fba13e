import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEngine, addonPath } from '../../src-main/engine/index.js';
import * as fs from 'node:fs';

test('the addon is built and loads', () => {
  assert.ok(fs.existsSync(addonPath()), `missing ${addonPath()}`);
  const e = loadEngine();
  for (const fn of ['info', 'setThreads', 'runChecks', 'benchGemm', 'benchTrain', 'mlmMask', 'Trainer']) {
    assert.equal(typeof (e as unknown as Record<string, unknown>)[fn], 'function', fn);
  }
});

test('info() has the documented shape', () => {
  const i = loadEngine().info();
  assert.equal(typeof i.engineVersion, 'string');
  assert.match(i.engineVersion, /^\d+\.\d+\.\d+/);
  assert.equal(typeof i.cpu.model, 'string');
  assert.ok(Number.isInteger(i.cpu.logicalCores) && i.cpu.logicalCores >= 1);
  for (const k of ['avx2', 'fma', 'avx512f'] as const) assert.equal(typeof i.cpu[k], 'boolean');
  assert.ok(Number.isInteger(i.threads) && i.threads >= 1);
  assert.ok(['avx512', 'avx2', 'portable'].includes(i.gemmKernel), i.gemmKernel);
  // CUDA: built or not (AUTO), available only with a driver and a device; otherwise a reason.
  assert.equal(typeof i.cuda.compiled, 'boolean');
  assert.equal(typeof i.cuda.available, 'boolean');
  assert.ok(Array.isArray(i.cuda.devices));
  if (i.cuda.available) assert.equal(i.cuda.reason, '');
  else assert.match(i.cuda.reason, /\S/, 'an unavailable CUDA backend says why');
  if (!i.cuda.compiled) assert.match(i.cuda.reason, /^not built: /);
  assert.equal(i.cuda.message, i.cuda.available ? 'CUDA available' : `CUDA unavailable: ${i.cuda.reason}`);
  for (const v of ['exact', 'bert-lsh', 'yoso-e', 'yoso', 'reformer']) assert.ok(i.attentionVariants.includes(v), v);
});

test('setThreads changes the pool size and validates n', () => {
  const e = loadEngine();
  const before = e.info().threads;
  try {
    assert.equal(e.setThreads(1), 1);
    assert.equal(e.info().threads, 1);
    assert.throws(() => e.setThreads(-1), /0\.\.1024/);
    assert.throws(() => e.setThreads(1.5), /integer/);
  } finally {
    e.setThreads(before);
  }
});

test('benchGemm returns positive GFLOP/s and a small error', async () => {
  const r = await loadEngine().benchGemm({ m: 64, n: 48, k: 32, iters: 5 });
  assert.equal(r.m, 64);
  assert.equal(r.n, 48);
  assert.equal(r.k, 32);
  assert.ok(r.gflops > 0);
  assert.ok(r.maxAbsError < 1e-3, `maxAbsError ${r.maxAbsError}`);
  assert.equal(typeof r.kernel, 'string');
  assert.equal(r.openblasAvailable, false); // not asked for
});

test('benchGemm names bad fields', async () => {
  const e = loadEngine();
  assert.throws(() => e.benchGemm({ m: 0, n: 1, k: 1 }), /benchGemm options\.m/);
  assert.throws(() => e.benchGemm({ m: 1, n: 1, k: 1, iter: 3 } as never), /unknown field 'iter'/);
});

test('runChecks returns one result per check, filtered by prefix', async () => {
  const e = loadEngine();
  const all = await e.runChecks();
  assert.ok(all.length > 0);
  for (const r of all) {
    assert.equal(typeof r.name, 'string');
    assert.equal(typeof r.maxRelError, 'number');
    assert.equal(typeof r.tolerance, 'number');
    assert.ok(Number.isInteger(r.checked));
    assert.equal(typeof r.passed, 'boolean');
  }
  const first = (all[0] as { name: string }).name;
  const some = await e.runChecks(first);
  assert.ok(some.length >= 1 && some.every((r) => r.name.startsWith(first)));
  assert.deepEqual(await e.runChecks('no-such-check/'), []);
});

test('mlmMask masks non-special positions and labels them', () => {
  const e = loadEngine();
  const B = 4;
  const T = 32;
  const V = 100;
  const ids = new Int32Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = 10 + (i % 80);
  for (let b = 0; b < B; b++) {
    ids[b * T] = 1; // CLS
    ids[b * T + T - 1] = 2; // SEP
  }
  const original = ids.slice();
  const labels = new Int32Array(B * T);
  e.mlmMask(ids, labels, null, B, T, { vocabSize: V, maskId: 3, specialIds: [0, 1, 2, 3], prob: 0.5, seed: 7, step: 0 });
  let masked = 0;
  for (let i = 0; i < ids.length; i++) {
    if (labels[i] === -100) {
      assert.equal(ids[i], original[i], `unlabelled position ${i} changed`);
    } else {
      masked++;
      assert.equal(labels[i], original[i]);
      assert.notEqual(original[i], 1);
      assert.notEqual(original[i], 2);
    }
  }
  assert.ok(masked > 10 && masked < B * T, `masked ${masked}`);
  // Deterministic in (seed, step).
  const ids2 = original.slice();
  const labels2 = new Int32Array(B * T);
  e.mlmMask(ids2, labels2, null, B, T, { vocabSize: V, maskId: 3, specialIds: [0, 1, 2, 3], prob: 0.5, seed: 7, step: 0 });
  assert.deepEqual(ids2, ids);
  assert.deepEqual(labels2, labels);
  assert.throws(
    () => e.mlmMask(ids, new Int32Array(3), null, B, T, { vocabSize: V, maskId: 3 }),
    /labels has 3 elements/,
  );
});
