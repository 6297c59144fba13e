import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectFormat } from '../../../src-main/data/import/detect';
import { FIXTURES, rejectsData, tempDir, write } from './helpers';

const dir = tempDir('detect');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const squad = '{"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": []}]}]}';

test('extension and content agree', async () => {
  assert.equal(await detectFormat(write(dir, 'a.txt', 'hello world\n')), 'txt');
  assert.equal(await detectFormat(write(dir, 'a.tsv', 'sentence\tlabel\nx\t1\n')), 'tsv');
  assert.equal(await detectFormat(write(dir, 'a.csv', 'text,label\nx,1\n')), 'csv');
  assert.equal(await detectFormat(write(dir, 'a.jsonl', '{"text":"a"}\n{"text":"b"}\n')), 'jsonl');
  assert.equal(await detectFormat(write(dir, 'a.json', squad)), 'squad');
  assert.equal(await detectFormat(path.join(FIXTURES, 'sst2-train.parquet')), 'parquet');
  assert.equal(await detectFormat(write(dir, 'b.json', '{"text":"a"}\n{"text":"b"}\n')), 'jsonl');
});

test('no extension: content sniffing', async () => {
  assert.equal(await detectFormat(write(dir, 'noext1', 'sentence\tlabel\nx\t1\n')), 'tsv');
  assert.equal(await detectFormat(write(dir, 'noext2', squad)), 'squad');
  assert.equal(await detectFormat(write(dir, 'noext3', fs.readFileSync(path.join(FIXTURES, 'bookcorpus.parquet')))), 'parquet');
  assert.equal(await detectFormat(write(dir, 'noext4', 'just prose here\nmore prose\n')), 'txt');
});

test('auto refuses mixed and unknown formats', async () => {
  const pq = fs.readFileSync(path.join(FIXTURES, 'sst2-train.parquet'));
  await rejectsData(detectFormat(write(dir, 'x.csv', pq)), /x\.csv: mixed format: extension \.csv \(csv\) but the content looks like parquet/);
  await rejectsData(detectFormat(write(dir, 'y.parquet', 'a,b\n1,2\n')), /y\.parquet: mixed format/);
  await rejectsData(detectFormat(write(dir, 'z.parquet', Buffer.from([1, 2, 0, 3, 4, 5]))), /no "PAR1" magic/);
  await rejectsData(detectFormat(write(dir, 'w.json', '[1,2,3]')), /w\.json: mixed format.*neither SQuAD nor JSON Lines/);
  await rejectsData(detectFormat(write(dir, 'v.jsonl', 'plain words\n')), /v\.jsonl: mixed format: extension \.jsonl/);
  await rejectsData(detectFormat(write(dir, 'u.xlsx', 'PK\u0003\u0004')), /u\.xlsx: unknown format: extension "\.xlsx"/);
  await rejectsData(detectFormat(write(dir, 'bin', Buffer.from([0, 1, 2, 3]))), /bin: unknown format: content looks like binary data/);
  await rejectsData(detectFormat(write(dir, 'e.txt', '')), /file is empty/);
  await rejectsData(detectFormat(path.join(dir, 'missing.csv')), /missing\.csv: no such file/);
  await rejectsData(detectFormat(write(dir, 'x.txt', 'a'), 'xml' as never), /unknown format "xml"/);
});
