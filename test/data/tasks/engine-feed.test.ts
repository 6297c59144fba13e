/**
 * engine-feed.test.ts: the three pipelines' batches are accepted by the real engine (a tiny
 * model, one training step and one evaluation each), and QA logits from evaluate() go through
 * splitQaLogits and postprocessQa. Shapes and plumbing only; learning is the engine's tests' job.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEngine, type ModelConfig } from '../../../src-main/engine/index.js';
import { Batcher } from '../../../src-main/data/tasks/batcher.js';
import { buildMlmBlocks, mlmTransform, MlmMeter } from '../../../src-main/data/tasks/mlm.js';
import { encodeClassification } from '../../../src-main/data/tasks/classification.js';
import { postprocessQa, prepareQaFeatures, splitQaLogits } from '../../../src-main/data/tasks/qa.js';
import type { QaRecord } from '../../../src-main/data/types.js';
import { FakeTokenizer } from './fake-tokenizer.js';

const tok = new FakeTokenizer();
const model = (task: ModelConfig['task'], numLabels = 2): Partial<ModelConfig> => ({
  vocabSize: tok.vocabSize, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2,
  intermediateSize: 32, maxPositionEmbeddings: 32, task, numLabels,
});
const TEXT = 'the captain of the ship was ahab . moby dick is a whale in the sea and the story is good';

test('MLM batches train and evaluate', async () => {
  const docs = await Promise.all([TEXT, 'a cat and a dog', TEXT].map(async (t) => (await tok.encode(t)).ids));
  const f = buildMlmBlocks(docs, { maxSeqLen: 16, special: tok.special });
  const b = new Batcher(f, { batchSize: 2, transform: mlmTransform({ vocabSize: tok.vocabSize, special: tok.special, prob: 0.3 }) });
  const tr = new (loadEngine().Trainer)(model('mlm'), { seed: 1 });
  const meter = new MlmMeter();
  for await (const batch of b.epoch(0)) {
    const s = await tr.step(batch);
    assert.ok(Number.isFinite(s.loss));
    meter.add(await tr.evaluate(batch));
  }
  const m = meter.summary();
  assert.ok(m.predictions > 0 && Number.isFinite(m.perplexity));
});

test('classification batches train and evaluate', async () => {
  const recs = ['a good film', 'a bad film', 'not good', 'very good'].map((text, i) => ({ kind: 'classification' as const, text, textPair: 'the story', label: i % 2 ? 'neg' : 'pos' }));
  const f = await encodeClassification(recs, tok, { maxSeqLen: 12, labels: ['neg', 'pos'] });
  const tr = new (loadEngine().Trainer)(model('classification'), { seed: 1 });
  for await (const batch of new Batcher(f, { batchSize: 2 }).epoch(0)) {
    assert.ok(Number.isFinite((await tr.step(batch)).loss));
    const ev = await tr.evaluate(batch, { returnLogits: true });
    assert.equal(ev.logits!.length, 2 * 2);
  }
});

test('QA batches train, and evaluate() logits post-process to context spans', async () => {
  const recs: QaRecord[] = [
    { kind: 'qa', id: 'a', question: 'who ?', context: TEXT, answers: [{ text: 'ahab', start: TEXT.indexOf('ahab') }], isImpossible: false },
    { kind: 'qa', id: 'b', question: 'what ?', context: TEXT, answers: [], isImpossible: true },
  ];
  const f = await prepareQaFeatures(recs, tok, { maxSeqLen: 16, docStride: 4, maxQueryLength: 4 });
  assert.ok(f.count > 2);
  const tr = new (loadEngine().Trainer)(model('qa'), { seed: 1 });
  const start = new Float32Array(f.count * f.seqLen);
  const end = new Float32Array(f.count * f.seqLen);
  const b = new Batcher(f, { batchSize: 3, shuffle: false });
  for await (const batch of b.epoch(0)) assert.ok(Number.isFinite((await tr.step(batch)).loss));
  for (let i = 0; i < b.batchesPerEpoch; i++) {
    const batch = b.batchAt(0, i);
    const ev = await tr.evaluate(batch, { returnLogits: true });
    const s = splitQaLogits(ev.logits!, batch.batchSize, batch.seqLen);
    start.set(s.start, i * 3 * f.seqLen);
    end.set(s.end, i * 3 * f.seqLen);
  }
  for (const p of postprocessQa(recs, f, start, end)) {
    for (const c of p.nbest) assert.ok(TEXT.includes(c.text) && c.start >= 0 && TEXT.slice(c.start, c.end) === c.text);
  }
});
