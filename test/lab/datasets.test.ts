/**
 * datasets.test.ts: the dataset service end to end with the real store: SST-2-style TSV, SQuAD
 * v1.1 JSON and the Parquet fixtures import into a temp lab (row, directory, records.jsonl, token
 * cache, manifest agree); every bad input of issue 4 fails with a message naming the file and
 * leaves no directory, temp directory or row; cancellation (before and during tokenization) and
 * a failing database insert leave nothing either; rm removes row and directory; tokenizers
 * resolve by name and path, train on a dataset, and a missing default says to run add-builtin.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTokenCache } from '../../src-main/data/cache/token-cache.js';
import { importDataset, listDatasets, removeDataset, showDataset, type ImportDatasetOptions } from '../../src-main/lab/datasets.js';
import { readManifest, readRecordsJsonl } from '../../src-main/lab/dataset-files.js';
import { listTokenizers, resolveTokenizer, tokenizerDir, trainTokenizer } from '../../src-main/lab/tokenizers.js';
import type { LabStore } from '../../src-main/store/types.js';
import { assertNothingLeft, makeLab, TEST_TOKENIZER, type Lab } from './lab-fixture.js';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'parquet');
let lab: Lab;
before(async () => { lab = await makeLab(); });
after(() => lab.close());

const imp = (o: Omit<ImportDatasetOptions, 'tokenizer'> & { tokenizer?: string }, store: LabStore = lab.store) =>
  importDataset(store, lab.dir, { tokenizer: TEST_TOKENIZER, ...o });

const SST2 = 'sentence\tlabel\n' + Array.from({ length: 20 }, (_, i) => `${i % 2 ? 'a good' : 'a bad'} whale story number ${i}\t${i % 2}`).join('\n') + '\n';
const SQUAD = JSON.stringify({
  version: '1.1',
  data: [{ title: 'Moby', paragraphs: [
    { context: 'Call me Ishmael. Some years ago I went to sea.', qas: [
      { id: 'q1', question: 'What is my name?', answers: [{ text: 'Ishmael', answer_start: 8 }] },
      { id: 'q2', question: 'Where did I go?', answers: [{ text: 'sea', answer_start: 42 }] },
    ] },
    { context: 'The whale was white.', qas: [{ id: 'q3', question: 'What colour?', answers: [{ text: 'white', answer_start: 14 }] }] },
  ] }],
});

test('SST-2-style TSV imports end to end: row, directory, records, cache and manifest agree', async () => {
  const file = lab.file('sst2.tsv', SST2);
  const phases = new Set<string>();
  const row = await imp({ path: file, kind: 'classification', validationFraction: 0.25, seed: 7, onProgress: (p) => phases.add(p.phase) });
  assert.equal(row.name, 'sst2');
  assert.equal(row.numRecords, 20);
  assert.deepEqual(row.splits, { train: 15, validation: 5 });
  assert.deepEqual(row.labelSet, ['0', '1']);
  assert.equal(row.format, 'tsv');
  assert.equal(row.tokenizer, TEST_TOKENIZER);
  assert.ok(['read', 'tokenize', 'write'].every((p) => phases.has(p)), [...phases].join());
  assert.deepEqual(fs.readdirSync(row.dir).sort(), ['dataset.json', 'records.jsonl', 'tokenizer', 'tokens.bin']);
  const m = readManifest(row.dir);
  const cache = await readTokenCache(path.join(row.dir, 'tokens.bin'));
  assert.equal(m.sha256, row.sha256);
  assert.equal(cache.header.sha256, row.sha256);
  assert.equal(cache.header.numTokens, row.numTokens);
  const recs = [];
  for await (const r of readRecordsJsonl(path.join(row.dir, 'records.jsonl'))) recs.push(r);
  assert.equal(recs.length, 20);
  assert.deepEqual(recs[3]!.record, { kind: 'classification', text: 'a good whale story number 3', label: '1' });
  recs.forEach((r, i) => assert.equal(cache.header.splits[cache.arrays.splits[i]!], r.split));
  // Same seed, same split: a second import under another name assigns the same records.
  const again = await imp({ path: file, kind: 'classification', name: 'sst2-again', validationFraction: 0.25, seed: 7 });
  const splitsOf = async (dir: string) => { const s: string[] = []; for await (const r of readRecordsJsonl(path.join(dir, 'records.jsonl'))) s.push(r.split); return s; };
  assert.deepEqual(await splitsOf(again.dir), await splitsOf(row.dir));
  assert.deepEqual(listDatasets(lab.store).map((d) => d.name), ['sst2', 'sst2-again']);
  assert.deepEqual(showDataset(lab.store, 'sst2').problems, []);
  await assert.rejects(imp({ path: file, kind: 'classification' }), /dataset "sst2" already exists/);
});

test('SQuAD v1.1 JSON imports with its answers', async () => {
  const row = await imp({ path: lab.file('squad-mini.json', SQUAD), kind: 'qa', validationFraction: 0 });
  assert.equal(row.format, 'squad');
  assert.deepEqual(row.splits, { train: 3 });
  const cache = await readTokenCache(path.join(row.dir, 'tokens.bin'));
  assert.deepEqual([...cache.arrays.answerSpans], [8, 15, 42, 45, 14, 19]);
  const recs = [];
  for await (const r of readRecordsJsonl(path.join(row.dir, 'records.jsonl'))) recs.push(r.record);
  assert.deepEqual(recs.map((r) => (r.kind === 'qa' ? r.id : '')), ['q1', 'q2', 'q3']);
});

test('Parquet fixtures import as classification, qa and text', async () => {
  const sst = await imp({ path: path.join(FIXTURES, 'sst2-train.parquet'), kind: 'classification', name: 'pq-sst2' });
  assert.equal(sst.numRecords, 6);
  assert.equal(sst.format, 'parquet');
  const squad = await imp({ path: path.join(FIXTURES, 'squad-validation.parquet'), kind: 'qa', name: 'pq-squad', validationFraction: 0 });
  assert.equal(squad.numRecords, 3);
  const cache = await readTokenCache(path.join(squad.dir, 'tokens.bin'));
  assert.deepEqual([...cache.arrays.impossible], [0, 0, 1]);
  const book = await imp({ path: path.join(FIXTURES, 'bookcorpus.parquet'), kind: 'text', name: 'pq-book' });
  assert.equal(book.numRecords, 4);
  assert.ok(book.numTokens > 0);
});

test('a byte-order mark is a note, not an error', async () => {
  const notes: string[] = [];
  const row = await imp({ path: lab.file('bom.tsv', '\ufeff' + SST2), kind: 'classification', onNote: (n) => notes.push(n) });
  assert.equal(row.numRecords, 20);
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /bom\.tsv: line 1: byte-order mark stripped/);
  assert.deepEqual(row.stats['notes'], notes);
});

test('every bad input fails naming the file and leaves nothing behind', async () => {
  const parquet = fs.readFileSync(path.join(FIXTURES, 'sst2-train.parquet'));
  const bad = (s: string): string => s;
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['unknown format', () => imp({ path: lab.file('u.xml', '<a/>'), kind: 'text', name: 'bad' }), /u\.xml: unknown format/],
    ['unknown --format', () => imp({ path: lab.file('u2.txt', 'x\n'), kind: 'text', name: 'bad', format: 'xml' as never }), /u2\.txt: unknown format "xml"/],
    ['invalid UTF-8', () => imp({ path: lab.file('utf.tsv', Buffer.concat([Buffer.from('sentence\tlabel\nok\t1\nb'), Buffer.from([0xff, 0xfe]), Buffer.from('\t0\n')])), kind: 'classification', name: 'bad' }), /utf\.tsv: line 3: invalid UTF-8/],
    ['ragged CSV', () => imp({ path: lab.file('ragged.csv', 'text,label\na,1\nb,0,extra\n'), kind: 'classification', name: 'bad' }), /ragged\.csv: line 3: expected 2 columns, found 3/],
    ['missing column', () => imp({ path: lab.file('nocol.tsv', SST2), kind: 'classification', name: 'bad', columns: { text: 'review' } }), /nocol\.tsv: .*missing column "review"/],
    ['label outside --labels', () => imp({ path: lab.file('labels.tsv', SST2), kind: 'classification', name: 'bad', labels: ['1', '2'] }), /labels\.tsv: line 2: label "0" is not in the declared label set/],
    ['answer offset mismatch', () => imp({ path: lab.file('off.json', SQUAD.replace('"answer_start":42', '"answer_start":41')), kind: 'qa', name: 'bad' }), /off\.json: data\[0\]\.paragraphs\[0\]\.qas\[1\]\.answers\[0\]: answer 0 "sea" does not match/],
    ['empty file', () => imp({ path: lab.file('empty.txt', ''), kind: 'text', name: 'bad' }), /empty\.txt: file is empty/],
    ['truncated parquet', () => imp({ path: lab.file('cut.parquet', parquet.subarray(0, parquet.length - 9)), kind: 'classification', name: 'bad' }), /cut\.parquet: /],
    ['nonexistent path', () => imp({ path: path.join(lab.dir, 'nope.tsv'), kind: 'classification', name: 'bad' }), /nope\.tsv: no such file/],
    ['directory', () => imp({ path: lab.dir, kind: 'text', name: 'bad' }), /data: is a directory/],
    ['kind the format cannot hold', () => imp({ path: lab.file('plain.txt', 'hello\n'), kind: 'qa', name: 'bad' }), /plain\.txt: plain text can only be imported as kind "text"/],
  ];
  for (const [what, run, re] of cases) {
    await assert.rejects(run(), (e: Error) => { assert.match(e.message, re, what); return true; }, bad(what));
    assertNothingLeft(lab, 'bad');
  }
});

test('cancelling before or during tokenization leaves nothing', async () => {
  const big = lab.file('big.txt', Array.from({ length: 3000 }, (_, i) => `line ${i} of the sea and the whale`).join('\n'));
  for (const at of ['read', 'tokenize'] as const) {
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(
      imp({ path: big, kind: 'text', name: 'cancelled', signal: ac.signal, onProgress: (p) => { if (p.phase === at && ++seen === 1) ac.abort(); } }),
      /cancelled/,
    );
    assert.ok(seen >= 1, at);
    assertNothingLeft(lab, 'cancelled');
  }
});

test('a failing database insert removes the committed directory', async () => {
  const failing: LabStore = { ...lab.store, datasets: { ...lab.store.datasets, insert: () => { throw new Error('disk full (simulated)'); } } };
  await assert.rejects(imp({ path: lab.file('ins.tsv', SST2), kind: 'classification' }, failing), /disk full/);
  assertNothingLeft(lab, 'ins');
});

test('rm removes row and directory, also of a half-removed dataset', async () => {
  const row = await imp({ path: lab.file('gone.tsv', SST2), kind: 'classification' });
  assert.deepEqual(removeDataset(lab.store, lab.dir, 'gone'), { row: true, dir: row.dir });
  assertNothingLeft(lab, 'gone');
  const orphan = await imp({ path: lab.file('orphan.tsv', SST2), kind: 'classification' });
  lab.store.datasets.remove('orphan'); // the directory without its row, as after a crash
  await assert.rejects(imp({ path: lab.file('orphan.tsv', SST2), kind: 'classification' }), /exists but is not in the lab database/);
  assert.deepEqual(removeDataset(lab.store, lab.dir, 'orphan'), { row: false, dir: orphan.dir });
  assertNothingLeft(lab, 'orphan');
  assert.throws(() => removeDataset(lab.store, lab.dir, 'orphan'), /no dataset "orphan"/);
});

test('tokenizers: by name or path, trained on a dataset, missing default points to add-builtin', async () => {
  const byPath = resolveTokenizer(lab.dir, path.join(tokenizerDir(lab.dir, TEST_TOKENIZER), 'vocab.txt'));
  assert.equal(byPath.inLab, false);
  const row = await imp({ path: lab.file('viapath.tsv', SST2), kind: 'classification', tokenizer: byPath.path });
  assert.equal(row.tokenizer, byPath.path);
  assert.throws(() => resolveTokenizer(lab.dir), /default tokenizer builtin-wp8k is not in this lab.*lshlab datasets add-builtin/);
  await assert.rejects(importDataset(lab.store, lab.dir, { path: lab.file('nodefault.tsv', SST2), kind: 'classification' }), /add-builtin/);
  assertNothingLeft(lab, 'nodefault');
  assert.throws(() => resolveTokenizer(lab.dir, 'nosuch'), /tokenizer "nosuch" not found .*have: test-wp/);
  const text = await imp({ path: lab.file('corpus.txt', Array.from({ length: 50 }, (_, i) => `the whale ${i} swam in the deep sea near the ship`).join('\n')), kind: 'text' });
  const info = await trainTokenizer(lab.store, lab.dir, { dataset: text.name, vocabSize: 120 });
  assert.equal(info.name, 'corpus-wp120');
  assert.ok(info.vocabSize <= 120 && info.vocabSize > 5);
  assert.equal(info.trainedOn, 'dataset corpus (split train)');
  assert.deepEqual(listTokenizers(lab.dir).map((t) => t.name), ['corpus-wp120', TEST_TOKENIZER]);
  const retok = await imp({ path: lab.file('corpus2.txt', 'the whale swam\n'), kind: 'text', tokenizer: 'corpus-wp120' });
  assert.equal(readManifest(retok.dir).tokenizer.vocabSize, info.vocabSize);
  await assert.rejects(trainTokenizer(lab.store, lab.dir, { dataset: text.name, vocabSize: 120 }), /already exists/);
});
