/**
 * host.test.ts: the run host end to end with real training processes on the synthetic dataset:
 * a finished run with its metrics, evaluation and checkpoint; kill -9 of the training process
 * (crashed, metrics kept, database healthy, next run fine); cancel and resume (the resumed run's
 * losses equal the uninterrupted run's, step for step); divergence; a failing checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tempLab, tinySpec } from './helpers.js';
import { listCheckpoints } from '../../src-main/training/checkpoints.js';
import { runDirOf } from '../../src-main/training/host.js';

test('a run finishes with metrics, an evaluation, a checkpoint and an environment', async () => {
  const lab = tempLab();
  try {
    const h = lab.host.start(tinySpec({ name: 'ok' }));
    const row = await h.done;
    assert.equal(row.status, 'finished', row.error ?? '');
    assert.equal(row.lastStep, 12);
    const keys = lab.store.metrics.keys(row.id);
    for (const k of ['train/loss', 'train/lr', 'train/grad_norm', 'train/tokens_per_s', 'train/step_s']) assert.ok(keys.includes(k), k);
    // The engine's step parts and the CPU variant's timed attention stages reach the store.
    for (const k of ['train/forward_s', 'train/backward_s', 'train/optimizer_s', 'attn/time/scores_s', 'attn/time/backward_s']) {
      assert.ok(keys.includes(k), k);
      assert.ok(lab.store.metrics.history(row.id, k).every((p) => p.value >= 0 && p.value < 60), k);
    }
    const loss = lab.store.metrics.history(row.id, 'train/loss');
    assert.deepEqual(loss.map((p) => p.step), Array.from({ length: 12 }, (_, i) => i + 1));
    assert.ok(loss.every((p) => Number.isFinite(p.value)));
    const evals = lab.store.evaluations.list(row.id);
    assert.equal(evals.length, 1);
    assert.equal(evals[0]!.step, 12);
    assert.ok(Number.isFinite(evals[0]!.metrics['loss']) && evals[0]!.metrics['perplexity']! > 1);
    const ck = lab.store.checkpoints.latest(row.id);
    assert.ok(ck && ck.step === 12 && fs.existsSync(`${ck.path}/model.safetensors`));
    assert.ok(row.environmentId !== null && lab.store.environments.get(row.environmentId)!['cpu']);
    assert.equal(row.pid, null);
  } finally {
    lab.cleanup();
  }
});

test('kill -9 of the training process: crashed, flushed metrics kept, database ok, next run works', async () => {
  const lab = tempLab();
  try {
    let killedAt = 0;
    const h = lab.host.start(tinySpec({ steps: 100000, name: 'victim' }), {
      onStep: (m) => {
        if (m.step === 8 && !killedAt) {
          killedAt = m.step;
          h.kill('SIGKILL');
        }
      },
    });
    const row = await h.done;
    assert.equal(row.status, 'crashed');
    assert.match(row.error ?? '', /killed by SIGKILL/);
    const pts = lab.store.metrics.history(row.id, 'train/loss');
    assert.ok(pts.length >= 8, `kept ${pts.length} points`);
    assert.deepEqual(pts.map((p) => p.step), Array.from({ length: pts.length }, (_, i) => i + 1));
    assert.equal(lab.store.integrityCheck(), 'ok');
    const next = await lab.host.start(tinySpec({ steps: 3 })).done;
    assert.equal(next.status, 'finished');
  } finally {
    lab.cleanup();
  }
});

test('cancel keeps a checkpoint; resuming from it reproduces the uninterrupted losses', async () => {
  const lab = tempLab();
  try {
    const full = await lab.host.start(tinySpec({ steps: 10, name: 'full' })).done;
    assert.equal(full.status, 'finished');
    const fullLoss = lab.store.metrics.history(full.id, 'train/loss').map((p) => p.value);

    let sent = false;
    const h = lab.host.start(tinySpec({ steps: 10, name: 'cut' }), {
      onStep: (m) => {
        if (m.step >= 4 && !sent) {
          sent = true;
          h.cancel();
        }
      },
    });
    const cut = await h.done;
    assert.equal(cut.status, 'cancelled');
    const ck = lab.store.checkpoints.latest(cut.id);
    assert.ok(ck, 'a checkpoint on cancel');
    assert.ok(ck.step >= 4 && ck.step < 10);
    assert.deepEqual(listCheckpoints(runDirOf(lab.dir, cut)).map((c) => c.step), [ck.step]);

    const resumed = await lab.host.start(tinySpec({ steps: 10, name: 'resumed', fromCheckpoint: ck.path })).done;
    assert.equal(resumed.status, 'finished', resumed.error ?? '');
    const resumedLoss = lab.store.metrics.history(resumed.id, 'train/loss');
    assert.equal(resumedLoss[0]!.step, ck.step + 1);
    const cutLoss = lab.store.metrics.history(cut.id, 'train/loss').map((p) => p.value);
    // Bit-identical: same weights, optimizer moments, batches, masks and dropout streams.
    assert.deepEqual([...cutLoss.slice(0, ck.step), ...resumedLoss.map((p) => p.value)], fullLoss);
  } finally {
    lab.cleanup();
  }
});

test('a failing checkpoint leaves the previous one intact and fails the run, naming both', async () => {
  const lab = tempLab();
  process.env['LSHLAB_FAULT_CHECKPOINT'] = '6';
  try {
    const row = await lab.host.start(tinySpec({ steps: 9, saveEvery: 3 })).done;
    assert.equal(row.status, 'failed');
    assert.match(row.error ?? '', /checkpoint at step 6 failed: ENOSPC.*step-00000003 is intact/);
    const dir = runDirOf(lab.dir, row);
    assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [3]);
    assert.deepEqual(fs.readdirSync(`${dir}/checkpoints`), ['step-00000003'], 'no temporary directory left');
    // The surviving checkpoint loads: resume from it.
    const resumed = await lab.host.start(tinySpec({ steps: 4, fromCheckpoint: listCheckpoints(dir)[0]!.path })).done;
    assert.equal(resumed.status, 'finished', resumed.error ?? '');
  } finally {
    delete process.env['LSHLAB_FAULT_CHECKPOINT'];
    lab.cleanup();
  }
});

test('a bad attention parameter fails the run with the engine message naming it', async () => {
  const lab = tempLab();
  try {
    const row = await lab.host.start(tinySpec({ attention: 'bert-lsh', attentionParams: { bands: 0 } })).done;
    assert.equal(row.status, 'failed');
    assert.match(row.error ?? '', /bands/);
  } finally {
    lab.cleanup();
  }
});

test('a NaN loss stops the run as diverged with the step and the value', async () => {
  const lab = tempLab();
  process.env['LSHLAB_FAULT_NAN_STEP'] = '5';
  try {
    const row = await lab.host.start(tinySpec({ steps: 50 })).done;
    assert.equal(row.status, 'diverged');
    assert.equal(row.error, 'loss is NaN at step 5');
    const loss = lab.store.metrics.history(row.id, 'train/loss');
    assert.equal(loss.length, 5);
    assert.ok(Number.isNaN(loss[4]!.value), 'the NaN itself is recorded');
  } finally {
    delete process.env['LSHLAB_FAULT_NAN_STEP'];
    lab.cleanup();
  }
});
