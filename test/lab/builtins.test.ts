/**
 * builtins.test.ts: `addBuiltins` on an empty temp lab makes builtin-text, builtin-spam,
 * builtin-qa and the tokenizer builtin-wp8k (vocab 8192) from the npm corpora, and a second run
 * does nothing; a half-made built-in is made again. Then the training side on the real data:
 * task features for each built-in (QA labels map back to the answers, spam labels are ham/spam)
 * and the synthetic answers are exact spans of their contexts. Slow-ish: ~20-40 s on 2 cores.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { QaFeatures } from '../../src-main/data/tasks/qa.js';
import { addBuiltins, listDatasets } from '../../src-main/lab/datasets.js';
import { readRecordsJsonl } from '../../src-main/lab/dataset-files.js';
import { loadTaskData } from '../../src-main/lab/task-data.js';
import { listTokenizers } from '../../src-main/lab/tokenizers.js';
import { openStore, storePath } from '../../src-main/store/index.js';
import type { LabStore } from '../../src-main/store/types.js';

let dir: string;
let store: LabStore;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-builtins-'));
  store = openStore(storePath(dir));
});
after(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('add-builtin makes the three datasets and builtin-wp8k, then is idempotent', async () => {
  const phases: string[] = [];
  const t0 = Date.now();
  const r = await addBuiltins(store, dir, { onProgress: (p) => phases.push(`${p.dataset}:${p.phase}`) });
  console.log(`add-builtin on an empty lab: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.deepEqual(r.created.map((d) => d.name), ['builtin-text', 'builtin-spam', 'builtin-qa']);
  assert.deepEqual(r.tokenizer, { name: 'builtin-wp8k', created: true });
  assert.ok(phases.includes('builtin-wp8k:train-tokenizer') && phases.includes('builtin-spam:tokenize'));
  const [tok] = listTokenizers(dir);
  assert.equal(tok!.name, 'builtin-wp8k');
  assert.equal(tok!.vocabSize, 8192);
  const rows = Object.fromEntries(listDatasets(store).map((d) => [d.name, d]));
  assert.equal(rows['builtin-text']!.numRecords, 871);
  assert.ok(rows['builtin-text']!.numTokens > 3e6);
  assert.deepEqual(rows['builtin-spam']!.labelSet, ['ham', 'spam']);
  assert.equal(rows['builtin-spam']!.numRecords, 6046);
  assert.deepEqual(rows['builtin-qa']!.splits, { train: 2700, validation: 300 });
  assert.equal(rows['builtin-qa']!.stats['synthetic'], true);
  for (const d of Object.values(rows)) assert.ok(d.builtin && d.tokenizer === 'builtin-wp8k');

  const again = await addBuiltins(store, dir);
  assert.deepEqual(again.created, []);
  assert.deepEqual(again.existing, ['builtin-text', 'builtin-spam', 'builtin-qa']);
  assert.equal(again.tokenizer.created, false);
  assert.ok(again.seconds < 2, String(again.seconds));
  assert.equal(listDatasets(store).find((d) => d.name === 'builtin-qa')!.id, rows['builtin-qa']!.id, 'untouched');
});

test('synthetic QA answers are exact spans; task features of every built-in', async () => {
  const qaDir = store.datasets.get('builtin-qa')!.dir;
  let n = 0;
  for await (const { record: r } of readRecordsJsonl(path.join(qaDir, 'records.jsonl'))) {
    assert.ok(r.kind === 'qa');
    const a = r.answers[0]!;
    assert.equal(r.context.slice(a.start, a.start + a.text.length), a.text);
    n++;
  }
  assert.equal(n, 3000);
  const qa = await loadTaskData(dir, 'builtin-qa', { task: 'qa', split: 'validation', maxSeqLen: 384, docStride: 128 });
  const f = qa.features as QaFeatures;
  let labelled = 0;
  for (let r = 0; r < f.count; r++) {
    const s = f.startPositions[r]!;
    if (s === 0) continue;
    labelled++;
    const rec = qa.records![f.exampleIndex[r]!]!;
    assert.equal(rec.context.slice(f.offsets[2 * (r * 384 + s)]!, f.offsets[2 * (r * 384 + f.endPositions[r]!) + 1]!), rec.answers[0]!.text);
  }
  assert.ok(labelled >= 300, String(labelled));
  const spam = await loadTaskData(dir, store.datasets.get('builtin-spam')!, { task: 'classification', split: 'validation', maxSeqLen: 128 });
  assert.equal(spam.features.count, 1209);
  assert.equal(spam.numLabels, 2);
  const ones = [...spam.features.labels!].filter((l) => l === 1).length;
  assert.ok(ones > 200 && ones < 700, `spam share ${ones}`);
  const text = await loadTaskData(dir, 'builtin-text', { task: 'mlm', split: 'train', maxSeqLen: 128 });
  assert.ok(text.features.count > 20000);
  assert.equal(text.vocabSize, 8192);
});

test('a half-made built-in (row without directory) is made again', async () => {
  const qa = store.datasets.get('builtin-qa')!;
  fs.rmSync(qa.dir, { recursive: true });
  const notes: string[] = [];
  const r = await addBuiltins(store, dir, { onNote: (n) => notes.push(n) });
  assert.deepEqual(r.created.map((d) => d.name), ['builtin-qa']);
  assert.match(notes.join('\n'), /builtin-qa: incomplete/);
  assert.ok(fs.existsSync(path.join(qa.dir, 'tokens.bin')));
  assert.equal(store.datasets.get('builtin-qa')!.sha256, qa.sha256, 'deterministic');
});
