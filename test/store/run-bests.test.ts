/**
 * run-bests.test.ts: the per-run bests run lists show (store.runBests, evaluation_summary of
 * schema 7): lowest training loss and its step from the metric summary; lowest evaluation loss,
 * highest accuracy and F1 with their first steps, non-finite values never a best, a replaced
 * evaluation recomputed exactly, the validation split preferred over others, pages by id, and
 * the summary rows going with their run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { newRun, withStore } from './helpers.js';

test('bests: training loss from the summary, evaluation bests with their first steps, NaN never a best', () => {
  withStore((s) => {
    const r = s.runs.create(newRun({ name: 'a' }));
    s.metrics.append(r.id, [
      { key: 'train/loss', step: 1, value: 4 },
      { key: 'train/loss', step: 2, value: 1.5 },
      { key: 'train/loss', step: 3, value: NaN },
      { key: 'train/accuracy', step: 3, value: 0.1 },
    ]);
    s.evaluations.add(r.id, 10, 'validation', { loss: 3, accuracy: 0.5, f1: 0.2 });
    s.evaluations.add(r.id, 20, 'validation', { loss: 2, accuracy: 0.7, f1: NaN });
    s.evaluations.add(r.id, 30, 'validation', { loss: NaN, accuracy: 0.7, f1: 0.1 });
    const b = s.runBests.of([r.id]).get(r.id);
    assert.ok(b);
    assert.ok(Number.isNaN(b.lastTrainLoss), 'the last loss stays NaN');
    assert.deepEqual(b.trainLoss, { value: 1.5, step: 2 });
    assert.equal(b.evalSplit, 'validation');
    assert.deepEqual(b.evalLoss, { value: 2, step: 20 });
    assert.deepEqual(b.evalAccuracy, { value: 0.7, step: 20 }, 'a tie keeps the first step');
    assert.deepEqual(b.evalF1, { value: 0.2, step: 10 });
  });
});

test('bests: a replaced evaluation is recomputed exactly; validation preferred; nothing recorded is null', () => {
  withStore((s) => {
    const a = s.runs.create(newRun({ name: 'a' }));
    s.evaluations.add(a.id, 10, 'validation', { loss: 1, accuracy: 0.9 });
    s.evaluations.add(a.id, 20, 'validation', { loss: 2, accuracy: 0.8 });
    // A resumed run evaluating step 10 again: the better numbers it replaced are gone.
    s.evaluations.add(a.id, 10, 'validation', { loss: 5 });
    let b = s.runBests.of([a.id]).get(a.id)!;
    assert.deepEqual([b.evalLoss, b.evalAccuracy], [{ value: 2, step: 20 }, { value: 0.8, step: 20 }]);
    s.evaluations.add(a.id, 5, 'test', { loss: 0.1, accuracy: 1 });
    b = s.runBests.of([a.id]).get(a.id)!;
    assert.equal(b.evalSplit, 'validation', 'a test split never outranks validation');
    assert.deepEqual(b.evalLoss, { value: 2, step: 20 });

    const other = s.runs.create(newRun({ name: 'other' }));
    s.evaluations.add(other.id, 7, 'test', { loss: 0.5 });
    s.evaluations.add(other.id, 7, 'dev', { loss: 0.25 });
    const bare = s.runs.create(newRun({ name: 'bare' }));
    const all = s.runBests.all();
    assert.equal(all.size, 3);
    assert.deepEqual([all.get(other.id)?.evalSplit, all.get(other.id)?.evalLoss], ['dev', { value: 0.25, step: 7 }]);
    assert.deepEqual(all.get(bare.id), { runId: bare.id, lastTrainLoss: null, trainLoss: null, evalSplit: null, evalLoss: null, evalAccuracy: null, evalF1: null });
    assert.deepEqual([...s.runBests.of([bare.id, 999]).keys()], [bare.id], 'unknown ids are left out');
    assert.equal(s.runBests.of([]).size, 0);
  });
});

test('bests: summary rows go with their run', () => {
  withStore((s, db) => {
    const r = s.runs.create(newRun({ name: 'gone' }));
    s.evaluations.add(r.id, 1, 'validation', { loss: 1 });
    assert.ok(s.runs.remove(r.id));
    const raw = new Database(db, { readonly: true });
    try {
      assert.equal(raw.prepare('SELECT count(*) FROM evaluation_summary').pluck().get(), 0);
    } finally {
      raw.close();
    }
  });
});
