/**
 * tasks.test.ts: the classification and QA paths of the training loop end to end, on datasets
 * imported into a temporary lab: a separable sentiment-style TSV (the label is carried by one
 * word) must be learnt (validation accuracy and F1 high), and a small SQuAD file must train and be
 * evaluated over every validation example with exact match and F1 in [0, 1]. MLM is covered by
 * host.test.ts on the synthetic dataset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeLab, TEST_TOKENIZER } from '../lab/lab-fixture.js';
import { importDataset } from '../../src-main/lab/datasets.js';
import { RunHost } from '../../src-main/training/host.js';
import { mulberry32 } from '../../src-main/data/random.js';
import { tinySpec } from './helpers.js';

const WORDS = ['the', 'ship', 'sea', 'whale', 'captain', 'day', 'night', 'man', 'boat', 'wind', 'deep', 'long'];

function sentences(n: number, seed: number): Array<{ text: string; label: string }> {
  const r = mulberry32(seed);
  const pick = (): string => WORDS[Math.floor(r() * WORDS.length)]!;
  return Array.from({ length: n }, () => {
    const good = r() < 0.5;
    const words = [pick(), pick(), good ? 'good' : 'bad', pick(), pick()];
    return { text: words.join(' '), label: good ? '1' : '0' };
  });
}

test('classification: a separable set is learnt; accuracy and F1 come from the validation split', async () => {
  const lab = await makeLab();
  try {
    const rows = sentences(400, 7);
    const file = lab.file('sent.tsv', 'sentence\tlabel\n' + rows.map((x) => `${x.text}\t${x.label}`).join('\n') + '\n');
    await importDataset(lab.store, lab.dir, { path: file, kind: 'classification', name: 'sent', tokenizer: TEST_TOKENIZER, validationFraction: 0.25 });
    const host = new RunHost(lab.store, lab.dir, { threads: 1 });
    const spec = tinySpec({ task: 'classification', dataset: 'sent', steps: 120, batchSize: 16, lr: 3e-3, evalEvery: 60, evalBatches: 0 });
    spec.model.hiddenSize = 32;
    spec.model.maxSeqLen = 16;
    const row = await host.start(spec).done;
    assert.equal(row.status, 'finished', row.error ?? '');
    const evals = lab.store.evaluations.list(row.id);
    assert.deepEqual(evals.map((e) => [e.step, e.split]), [[60, 'validation'], [120, 'validation']]);
    const last = evals[1]!.metrics;
    assert.equal(last['examples'], 100);
    assert.ok(last['accuracy']! >= 0.9, `accuracy ${last['accuracy']}`);
    assert.ok(last['f1']! >= 0.9, `f1 ${last['f1']}`);
  } finally {
    lab.close();
  }
});

test('qa: trains on a SQuAD file and is evaluated on every validation example', async () => {
  const lab = await makeLab();
  try {
    const paragraphs = Array.from({ length: 40 }, (_, p) => {
      const name = `captain${p}`;
      const context = `The ship sailed at night. Its master was ${name} of the sea. The wind was long and deep.`;
      return {
        context,
        qas: [
          { id: `q${p}`, question: 'Who was the master of the ship?', answers: [{ text: name, answer_start: context.indexOf(name) }] },
          { id: `w${p}`, question: 'When did the ship sail?', answers: [{ text: 'at night', answer_start: context.indexOf('at night') }] },
        ],
      };
    });
    const squad = { version: '1.1', data: [{ title: 'ships', paragraphs }] };
    const file = lab.file('squad.json', JSON.stringify(squad));
    const ds = await importDataset(lab.store, lab.dir, { path: file, kind: 'qa', name: 'ships', tokenizer: TEST_TOKENIZER, validationFraction: 0.25 });
    const host = new RunHost(lab.store, lab.dir, { threads: 1 });
    const spec = tinySpec({ task: 'qa', dataset: 'ships', steps: 30, batchSize: 8, lr: 3e-3, docStride: 8 });
    spec.model.maxSeqLen = 32;
    const row = await host.start(spec).done;
    assert.equal(row.status, 'finished', row.error ?? '');
    const [e] = lab.store.evaluations.list(row.id);
    assert.ok(e, 'an evaluation at the end');
    assert.equal(e.metrics['examples'], ds.splits['validation']);
    for (const k of ['exact_match', 'f1']) assert.ok(e.metrics[k]! >= 0 && e.metrics[k]! <= 1, `${k} ${e.metrics[k]}`);
    assert.ok(Number.isFinite(e.metrics['loss']));
  } finally {
    lab.close();
  }
});
