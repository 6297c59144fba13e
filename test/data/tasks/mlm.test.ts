/**
 * mlm.test.ts: MLM block cutting ([CLS] ... [SEP] frames, [SEP] between documents, padding of the
 * last block), masking through the engine's mlmMask (rates 15% and 80/10/10, never special or
 * padding tokens, reproducible by seed and step, fresh per epoch through the Batcher), metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMlmBlocks, maskBatch, mlmMetrics, mlmTransform, MlmMeter } from '../../../src-main/data/tasks/mlm.js';
import { Batcher, gatherBatch, mulberry32 } from '../../../src-main/data/tasks/batcher.js';
import type { SpecialTokens } from '../../../src-main/data/types.js';

const special: SpecialTokens = { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 };
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

test('blocks: [CLS] body [SEP], a [SEP] between documents, last block padded', () => {
  const docs = [range(10, 18), range(20, 22), [], range(30, 40)];
  const f = buildMlmBlocks(docs, { maxSeqLen: 6, special });
  const T = 6;
  const stream: number[] = [];
  for (let b = 0; b < f.count; b++) {
    const row = Array.from(f.inputIds.subarray(b * T, (b + 1) * T));
    const len = f.attentionMask.subarray(b * T, (b + 1) * T).reduce((s, v) => s + v, 0);
    assert.equal(row[0], special.cls);
    assert.equal(row[len - 1], special.sep);
    assert.notEqual(row[1], special.sep, 'no separator opens a chunk');
    assert.ok(row.slice(len).every((v) => v === special.pad));
    if (b < f.count - 1) assert.equal(len, T, 'only the last block is short');
    stream.push(...row.slice(1, len - 1));
  }
  // The bodies concatenate to the documents joined by [SEP] (the one at a chunk start dropped).
  // Here the first document fills exactly two chunks, so the [SEP] after it is the one dropped.
  assert.deepEqual(stream, [...range(10, 18), ...range(20, 22), 3, ...range(30, 40)]);
  assert.equal(f.count, 6);
  assert.ok(f.tokenTypeIds.every((v) => v === 0));
  const dropped = buildMlmBlocks(docs, { maxSeqLen: 6, special, dropLast: true });
  assert.equal(dropped.count, f.count - 1);
  assert.ok(dropped.attentionMask.every((v) => v === 1));
  assert.throws(() => buildMlmBlocks(docs, { maxSeqLen: 2, special }), RangeError);
  assert.equal(buildMlmBlocks([[], []], { maxSeqLen: 8, special }).count, 0);
});

/** A batch of random ordinary tokens (ids 5..V-1) with some padding and special tokens. */
function randomBatch(B: number, T: number, V: number, seed: number) {
  const rand = mulberry32(seed);
  const docs = Array.from({ length: B * 2 }, () => Array.from({ length: 20 + Math.floor(rand() * 200) }, () => 5 + Math.floor(rand() * (V - 5))));
  const f = buildMlmBlocks(docs, { maxSeqLen: T, special });
  return { f, batch: gatherBatch(f, range(0, Math.min(B, f.count))) };
}

test('masking through the engine: 15%, 80/10/10, never specials or padding', () => {
  const V = 1000;
  const { batch } = randomBatch(64, 128, V, 1);
  const before = Int32Array.from(batch.inputIds);
  maskBatch(batch, 0, { vocabSize: V, special, seed: 5 });
  const labels = batch.labels!;
  assert.equal(labels.length, batch.batchSize * batch.seqLen);
  let eligible = 0, chosen = 0, masked = 0, same = 0, random = 0;
  for (let i = 0; i < labels.length; i++) {
    const isSpecial = before[i]! < 5 || batch.attentionMask![i] === 0;
    if (!isSpecial) eligible++;
    if (labels[i] === -100) {
      assert.equal(batch.inputIds[i], before[i], 'unchosen tokens are untouched');
      continue;
    }
    assert.ok(!isSpecial, 'specials and padding are never chosen');
    assert.equal(labels[i], before[i], 'the label is the original token');
    chosen++;
    if (batch.inputIds[i] === special.mask) masked++;
    else if (batch.inputIds[i] === before[i]) same++;
    else random++;
  }
  const rate = chosen / eligible;
  assert.ok(Math.abs(rate - 0.15) < 0.015, `rate ${rate}`);
  assert.ok(Math.abs(masked / chosen - 0.8) < 0.03, `mask ${masked / chosen}`);
  assert.ok(Math.abs(random / chosen - 0.1) < 0.03, `random ${random / chosen}`);
  assert.ok(Math.abs(same / chosen - 0.1) < 0.03, `same ${same / chosen}`);
});

test('masking is reproducible by (seed, step) and differs across steps and seeds', () => {
  const V = 500;
  const run = (step: number, seed: number) => {
    const { batch } = randomBatch(8, 64, V, 2);
    return maskBatch(batch, step, { vocabSize: V, special, seed });
  };
  assert.deepEqual(run(3, 9).labels, run(3, 9).labels);
  assert.deepEqual(run(3, 9).inputIds, run(3, 9).inputIds);
  assert.notDeepEqual(run(3, 9).labels, run(4, 9).labels);
  assert.notDeepEqual(run(3, 9).labels, run(3, 10).labels);
});

test('through the Batcher: fresh masks every epoch, identical on a rerun', async () => {
  const V = 300;
  const { f } = randomBatch(40, 32, V, 3);
  const make = () => new Batcher(f, { batchSize: 8, seed: 1, transform: mlmTransform({ vocabSize: V, special, seed: 77 }) });
  const collect = async (b: Batcher, e: number) => {
    const out = [];
    for await (const x of b.epoch(e)) out.push(x);
    return out;
  };
  const a0 = await collect(make(), 0);
  assert.deepEqual(a0, await collect(make(), 0));
  // Same rows in epoch 1 (shuffle off) still get different masks: step = global batch counter.
  const fixed = (e: number) => collect(new Batcher(f, { batchSize: 8, shuffle: false, transform: mlmTransform({ vocabSize: V, special, seed: 77 }) }), e);
  const [e0, e1] = [await fixed(0), await fixed(1)];
  assert.notDeepEqual(e0[0]!.labels, e1[0]!.labels);
  assert.ok(a0.every((b) => b.labels!.some((v) => v !== -100)));
});

test('metrics: token-weighted loss, masked accuracy, perplexity = exp(loss)', () => {
  const m = new MlmMeter();
  m.add({ loss: 2, predictions: 10, correct: 5 });
  m.add({ loss: 4, predictions: 30, correct: 3 });
  m.add({ loss: 99, predictions: 0, correct: 0 });
  const s = m.summary();
  assert.equal(s.loss, 3.5);
  assert.equal(s.accuracy, 8 / 40);
  assert.equal(s.perplexity, Math.exp(3.5));
  assert.equal(s.predictions, 40);
  assert.ok(Number.isNaN(new MlmMeter().summary().loss));
  assert.ok(Math.abs(mlmMetrics(5.331, 1, 0).perplexity - 206.6) < 0.1); // BERT-LSH's reported pair
});
