/**
 * classification.test.ts: [CLS] a [SEP] (b [SEP]) layout, token type ids, longest-first
 * truncation (checked against HF's one-token-at-a-time loop), padding, label ids, metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClassificationRecord } from '../../../src-main/data/types.js';
import { DataError } from '../../../src-main/data/types.js';
import { accuracy, argmaxRows, binaryF1, encodeClassification, longestFirst } from '../../../src-main/data/tasks/classification.js';
import { FakeTokenizer } from './fake-tokenizer.js';

const tok = new FakeTokenizer();
const { cls, sep, pad } = tok.special;
const rec = (text: string, label: string, textPair?: string): ClassificationRecord =>
  textPair === undefined ? { kind: 'classification', text, label } : { kind: 'classification', text, textPair, label };
const id = (w: string): number => tok.tokenToId(w)!;

/** HF's truncate_sequences(LONGEST_FIRST), literally. */
function hfLoop(a: number, b: number, budget: number): [number, number] {
  while (a + b > budget) {
    if (a > b) a--;
    else b--;
  }
  return [a, b];
}

test('longestFirst equals HF\'s loop', () => {
  for (let a = 0; a < 25; a++) for (let b = 0; b < 25; b++) for (let budget = 0; budget < 30; budget++) {
    assert.deepEqual(longestFirst(a, b, budget), hfLoop(a, b, budget), `${a} ${b} ${budget}`);
  }
});

test('single sentence: layout, padding, mask, label id', async () => {
  const f = await encodeClassification([rec('a good film!', 'positive')], tok, { maxSeqLen: 8, labels: ['negative', 'positive'] });
  assert.deepEqual(Array.from(f.inputIds), [cls, id('a'), id('good'), id('film'), id('!'), sep, pad, pad]);
  assert.deepEqual(Array.from(f.attentionMask), [1, 1, 1, 1, 1, 1, 0, 0]);
  assert.deepEqual(Array.from(f.tokenTypeIds), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(f.labels!), [1]);
});

test('single sentence truncated to fit [CLS] ... [SEP]', async () => {
  const f = await encodeClassification([rec('the cat and the dog', '0')], tok, { maxSeqLen: 5, labels: ['0', '1'] });
  assert.deepEqual(Array.from(f.inputIds), [cls, id('the'), id('cat'), id('and'), sep]);
  assert.ok(f.attentionMask.every((v) => v === 1));
});

test('pairs: type ids 0 then 1, longest-first truncation', async () => {
  const f = await encodeClassification(
    [rec('the cat', 'b', 'a dog'), rec('the very very very good film', 'a', 'not bad'), rec('the', 'a')],
    tok,
    { maxSeqLen: 9, labels: ['a', 'b'] },
  );
  const T = 9;
  const row = (r: number, a: Int32Array) => Array.from(a.subarray(r * T, (r + 1) * T));
  assert.deepEqual(row(0, f.inputIds), [cls, id('the'), id('cat'), sep, id('a'), id('dog'), sep, pad, pad]);
  assert.deepEqual(row(0, f.tokenTypeIds), [0, 0, 0, 0, 1, 1, 1, 0, 0]);
  assert.deepEqual(row(0, f.attentionMask), [1, 1, 1, 1, 1, 1, 1, 0, 0]);
  // 6 + 2 tokens into a budget of 6: the first keeps 4, the second its 2.
  assert.deepEqual(row(1, f.inputIds), [cls, id('the'), id('very'), id('very'), id('very'), sep, id('not'), id('bad'), sep]);
  assert.deepEqual(row(1, f.tokenTypeIds), [0, 0, 0, 0, 0, 0, 1, 1, 1]);
  assert.deepEqual(row(2, f.inputIds), [cls, id('the'), sep, pad, pad, pad, pad, pad, pad]);
  assert.deepEqual(Array.from(f.labels!), [1, 0, 0]);
});

test('a label outside the declared list is a DataError naming it', async () => {
  await assert.rejects(
    encodeClassification([rec('good', 'positive'), rec('bad', 'neutral')], tok, { maxSeqLen: 8, labels: ['negative', 'positive'] }),
    (e: unknown) => e instanceof DataError && /row 1/.test(e.message) && /"neutral"/.test(e.message),
  );
  await assert.rejects(encodeClassification([], tok, { maxSeqLen: 8, labels: ['x', 'x'] }), /duplicate/);
});

test('metrics: argmax, accuracy, F1 of the positive class', () => {
  assert.deepEqual(Array.from(argmaxRows(Float32Array.from([0.1, 0.9, 2, -1, 0, 0]), 2)), [1, 0, 0]);
  const pred = [1, 1, 0, 0, 1, 0];
  const gold = [1, 0, 0, 1, 1, 0];
  assert.equal(accuracy(pred, gold), 4 / 6);
  // positive 1: tp 2, fp 1, fn 1 -> P = R = F1 = 2/3
  const f1 = binaryF1(pred, gold);
  assert.ok(Math.abs(f1.f1 - 2 / 3) < 1e-12 && Math.abs(f1.precision - 2 / 3) < 1e-12);
  // positive 0: tp 2 (rows 2, 5), fp 1 (row 3), fn 1 (row 1)
  assert.ok(Math.abs(binaryF1(pred, gold, 0).f1 - 2 / 3) < 1e-12);
  assert.deepEqual(binaryF1([0, 0], [0, 0]), { precision: 0, recall: 0, f1: 0 });
  assert.throws(() => accuracy([1], [1, 0]), RangeError);
});
