import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collect, FIXTURES, rejectsData, tempDir, write } from './helpers';

const dir = tempDir('parquet');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const fx = (n: string): string => path.join(FIXTURES, n);

test('HF SST-2 layout (sentence, label, idx; 3 row groups, snappy)', async () => {
  const progress: number[] = [];
  const rs = await collect(fx('sst2-train.parquet'), { kind: 'classification', labels: ['0', '1'], onProgress: (r) => progress.push(r) });
  assert.equal(rs.length, 6);
  assert.deepEqual(rs[0]!.record, { kind: 'classification', text: 'hide new secretions from the parental units ', label: '0' });
  assert.deepEqual(rs[5]!.record, { kind: 'classification', text: 'a smile on your face 😀 ', label: '1' });
  assert.deepEqual(rs.map((r) => r.at.row), [0, 1, 2, 3, 4, 5]);
  assert.equal(progress.length, 3);
});

test('HF SQuAD layout (answers struct of lists, zstd) with offsets checked', async () => {
  const rs = await collect(fx('squad-validation.parquet'), { kind: 'qa' });
  assert.equal(rs.length, 3);
  const r0 = rs[0]!.record;
  assert.ok(r0.kind === 'qa');
  assert.equal(r0.id, '5733be284776f41900661182');
  assert.deepEqual(r0.answers, [{ text: 'golden statue of the Virgin Mary', start: 94 }]);
  assert.equal(r0.context.slice(94, 94 + r0.answers[0]!.text.length), r0.answers[0]!.text);
  const r2 = rs[2]!.record;
  assert.ok(r2.kind === 'qa' && r2.isImpossible && r2.answers.length === 0);
});

test('HF BookCorpus layout (text, gzip)', async () => {
  const rs = await collect(fx('bookcorpus.parquet'), { kind: 'text' });
  assert.equal(rs.length, 4);
  assert.match(rs[3]!.record.kind === 'text' ? rs[3]!.record.text : '', /pg cartoon/);
});

test('truncated Parquet, missing column and bad label fail naming the file', async () => {
  const bytes = fs.readFileSync(fx('sst2-train.parquet'));
  for (const cut of [bytes.length - 1, bytes.length - 9, Math.floor(bytes.length / 2), 20]) {
    const f = write(dir, `trunc-${cut}.parquet`, bytes.subarray(0, cut));
    await rejectsData(collect(f, { kind: 'classification', format: 'parquet' }), new RegExp(`trunc-${cut}\\.parquet: `));
  }
  // Body truncated but footer intact: cut out bytes in the middle.
  const mid = Buffer.concat([bytes.subarray(0, 4), bytes.subarray(200)]);
  await rejectsData(collect(write(dir, 'mid.parquet', mid), { kind: 'classification', format: 'parquet' }), /mid\.parquet/);
  await rejectsData(collect(fx('bookcorpus.parquet'), { kind: 'classification' }), /bookcorpus\.parquet: missing label column/);
  await rejectsData(collect(fx('sst2-train.parquet'), { kind: 'classification', labels: ['1'] }), /sst2-train\.parquet: row 0: label "0" is not in/);
});
