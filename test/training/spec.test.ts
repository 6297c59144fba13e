/**
 * spec.test.ts: RunSpec validation names the field at fault; the engine configs derived from a
 * spec; the step count from epochs; seeds above 2^53 survive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSpec, modelConfigOf, SpecError, totalStepsOf, trainConfigOf, validateSpec } from '../../src-main/training/spec.js';

const base = () => defaultSpec({ task: 'mlm', dataset: 'd', steps: 10 });

test('defaults are BERT-tiny at sequence 128', () => {
  const s = validateSpec(base());
  assert.deepEqual([s.model.hiddenSize, s.model.numHiddenLayers, s.model.numAttentionHeads, s.model.intermediateSize, s.model.maxSeqLen], [128, 2, 2, 512, 128]);
  const m = modelConfigOf(s, { vocabSize: 8192, numLabels: 0 });
  assert.equal(m.vocabSize, 8192);
  assert.equal(m.maxPositionEmbeddings, 512);
  assert.equal(m.attention, 'exact');
});

test('bad fields are rejected by name', () => {
  const cases: Array<[(s: ReturnType<typeof base>) => void, RegExp]> = [
    [(s) => (s.model.hiddenSize = 129), /^model.hiddenSize: 129 is not a multiple of numAttentionHeads 2/],
    [(s) => (s.model.maxSeqLen = 1024), /^model.maxSeqLen: at most 512/],
    [(s) => (s.batchSize = 0), /^batchSize:/],
    [(s) => (s.lr = 0), /^lr:/],
    [(s) => (s.seed = '-1'), /^seed:/],
    [(s) => (s.seed = String(2n ** 64n)), /^seed:/],
    [(s) => (s.evalEvery = 1.5), /^evalEvery:/],
    [(s) => ((s.task = 'qa'), (s.docStride = 128)), /^docStride:/],
    [(s) => ((s as { task: string }).task = 'translation'), /^task: unknown task 'translation'/],
    [(s) => delete s.steps, /^steps: give steps or epochs/],
  ];
  for (const [mutate, re] of cases) {
    const s = base();
    mutate(s);
    assert.throws(() => validateSpec(s), (e: unknown) => e instanceof SpecError && re.test(e.message), String(re));
  }
});

test('epochs become steps; warmup is capped; large seeds stay exact', () => {
  const s = defaultSpec({ task: 'classification', dataset: 'd', epochs: 2.5, seed: '18446744073709551615' });
  validateSpec(s);
  assert.equal(totalStepsOf(s, 10), 25);
  const t = trainConfigOf(s, 5);
  assert.equal(t.warmupSteps, 5);
  assert.equal(t.seed, 18446744073709551615n);
  assert.equal(trainConfigOf(base(), 10).seed, 42);
});
