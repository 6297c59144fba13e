/**
 * task-data.test.ts: features built from the token cache are exactly what the record-based task
 * pipelines build with the same tokenizer: classification (pairs, truncation, a whitespace-only
 * pair) equals encodeClassification, QA windows (several per example, doc stride) equal
 * prepareQaFeatures and their labelled spans' offsets give back the answer text, MLM blocks equal
 * buildMlmBlocks over the texts' encodings; labels round-trip; wrong task or split is an error.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { encodeClassification } from '../../src-main/data/tasks/classification.js';
import { buildMlmBlocks } from '../../src-main/data/tasks/mlm.js';
import { prepareQaFeatures, type QaFeatures } from '../../src-main/data/tasks/qa.js';
import type { ClassificationRecord, QaRecord, TextRecord } from '../../src-main/data/types.js';
import { importDataset } from '../../src-main/lab/datasets.js';
import { readRecordsJsonl } from '../../src-main/lab/dataset-files.js';
import { loadTaskData, mlmTransformFor, openDataset, taskData } from '../../src-main/lab/task-data.js';
import { makeLab, TEST_TOKENIZER, testTokenizer, type Lab } from './lab-fixture.js';

let lab: Lab;
before(async () => { lab = await makeLab(); });
after(() => lab.close());

async function records<R>(dir: string, split: string): Promise<R[]> {
  const out: R[] = [];
  for await (const r of readRecordsJsonl(path.join(dir, 'records.jsonl'), { split })) out.push(r.record as R);
  return out;
}

const words = 'the whale ship captain sea harpoon white deep ocean sailor storm island'.split(' ');
const sentence = (i: number, n: number): string => Array.from({ length: n }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ');

test('classification features from the cache equal encodeClassification, labels round-trip', async () => {
  const rows = ['sentence1\tsentence2\tlabel'];
  for (let i = 0; i < 40; i++) rows.push(`${sentence(i, 3 + (i % 20))}\t${i % 5 === 0 ? '   ' : i % 3 === 0 ? '' : sentence(i + 1, 1 + (i % 17))}\t${['neg', 'pos', 'mid'][i % 3]}`);
  const row = await importDataset(lab.store, lab.dir, { path: lab.file('pairs.tsv', rows.join('\n') + '\n'), kind: 'classification', tokenizer: TEST_TOKENIZER, validationFraction: 0.3 });
  assert.deepEqual(row.labelSet, ['mid', 'neg', 'pos']);
  const opened = await openDataset(lab.dir, row);
  assert.ok(opened.manifest.emptyPairs.length > 0, 'whitespace-only pairs are recorded');
  const tok = await testTokenizer();
  for (const split of ['train', 'validation']) {
    for (const maxSeqLen of [8, 16, 64]) {
      const d = await taskData(opened, { task: 'classification', split, maxSeqLen });
      const recs = await records<ClassificationRecord>(row.dir, split);
      const want = await encodeClassification(recs, tok, { maxSeqLen, labels: row.labelSet });
      assert.deepEqual(d.features, want, `${split} T=${maxSeqLen}`);
      assert.deepEqual([...d.features.labels!].map((l) => row.labelSet[l]), recs.map((r) => r.label));
      assert.equal(d.numLabels, 3);
    }
  }
});

test('QA windows from the cache equal prepareQaFeatures; labelled spans give back the answers', async () => {
  const paragraphs = [];
  for (let p = 0; p < 6; p++) {
    const context = Array.from({ length: 6 + p * 4 }, (_, s) => sentence(p * 10 + s, 8) + '.').join(' ');
    const qas = [];
    for (let q = 0; q < 3; q++) {
      const start = Math.floor((context.length * (q + 1)) / 4);
      const s = context.indexOf(' ', start) + 1;
      const e = context.indexOf(' ', s);
      qas.push({ id: `p${p}q${q}`, question: `where is ${context.slice(s, e)}?`, answers: [{ text: context.slice(s, e), answer_start: s }] });
    }
    qas.push({ id: `p${p}x`, question: 'nothing here?', is_impossible: true, answers: [] });
    paragraphs.push({ context, qas });
  }
  const file = lab.file('qa.json', JSON.stringify({ version: 'v2.0', data: [{ title: 't', paragraphs }] }));
  const row = await importDataset(lab.store, lab.dir, { path: file, kind: 'qa', tokenizer: TEST_TOKENIZER, validationFraction: 0.25 });
  const tok = await testTokenizer();
  const opened = await openDataset(lab.dir, row.name);
  for (const split of ['train', 'validation']) {
    const opts = { maxSeqLen: 48, docStride: 8, maxQueryLength: 12 };
    const d = await taskData(opened, { task: 'qa', split, ...opts });
    const recs = await records<QaRecord>(row.dir, split);
    assert.deepEqual(d.records, recs);
    const want = await prepareQaFeatures(recs, tok, opts);
    assert.deepEqual(d.features, want, split);
    const f = d.features as QaFeatures;
    assert.ok(f.count > recs.length, 'long contexts give several windows');
    let labelled = 0;
    for (let r = 0; r < f.count; r++) {
      const s = f.startPositions[r]!;
      const e = f.endPositions[r]!;
      if (s === 0) continue;
      labelled++;
      const rec = recs[f.exampleIndex[r]!]!;
      const T = f.seqLen;
      assert.equal(rec.context.slice(f.offsets[2 * (r * T + s)]!, f.offsets[2 * (r * T + e) + 1]!), rec.answers[0]!.text);
    }
    assert.ok(labelled >= recs.filter((r) => !r.isImpossible).length);
  }
});

test('MLM blocks from the cache equal buildMlmBlocks over the encodings; masking works', async () => {
  const lines = Array.from({ length: 30 }, (_, i) => sentence(i, 5 + (i % 13)));
  const row = await importDataset(lab.store, lab.dir, { path: lab.file('mlm.txt', lines.join('\n')), kind: 'text', tokenizer: TEST_TOKENIZER });
  const tok = await testTokenizer();
  const d = await loadTaskData(lab.dir, row, { task: 'mlm', split: 'train', maxSeqLen: 32 });
  const recs = await records<TextRecord>(row.dir, 'train');
  const encs = await tok.encodeBatch(recs.map((r) => r.text));
  assert.deepEqual(d.features, buildMlmBlocks(encs.map((e) => e.ids), { maxSeqLen: 32, special: tok.special }));
  assert.equal(d.vocabSize, tok.vocabSize);
  assert.deepEqual(d.special, tok.special);
  let calls = 0;
  const transform = mlmTransformFor(d, { seed: 3, mask: (ids, labels) => { calls++; labels.fill(-100); labels[1] = ids[1]!; ids[1] = d.special.mask; } });
  const batch = transform({ batchSize: 1, seqLen: 32, inputIds: d.features.inputIds.slice(0, 32), tokenTypeIds: new Int32Array(32), attentionMask: d.features.attentionMask.slice(0, 32) },
    { epoch: 0, index: 0, globalStep: 0, rows: Int32Array.of(0) });
  assert.equal(calls, 1);
  assert.equal(batch.inputIds[1], d.special.mask);
  assert.equal(batch.labels![1], d.features.inputIds[1]);
});

test('wrong task for the kind and unknown splits are errors', async () => {
  const row = await importDataset(lab.store, lab.dir, { path: lab.file('t.txt', 'one line\nanother line\n'), kind: 'text', tokenizer: TEST_TOKENIZER });
  await assert.rejects(loadTaskData(lab.dir, row, { task: 'qa', split: 'train', maxSeqLen: 64 }), /task qa needs a qa dataset; "t" is text/);
  await assert.rejects(loadTaskData(lab.dir, 't', { task: 'mlm', split: 'test', maxSeqLen: 64 }), /has no split "test" \(has: train\)/);
  await assert.rejects(loadTaskData(lab.dir, 'absent', { task: 'mlm', split: 'train', maxSeqLen: 64 }), /absent.*dataset\.json: no such file/);
});
