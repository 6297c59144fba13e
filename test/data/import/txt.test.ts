import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collect, rejectsData, tempDir, write } from './helpers';

const dir = tempDir('txt');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('one document per line, blank lines skipped, lines located', async () => {
  const f = write(dir, 'a.txt', 'first doc\n\n  \nsecond doc\n');
  const rs = await collect(f, { kind: 'text' });
  assert.deepEqual(rs.map((r) => r.record), [{ kind: 'text', text: 'first doc' }, { kind: 'text', text: 'second doc' }]);
  assert.deepEqual(rs.map((r) => r.at.line), [1, 4]);
});

test('blank-line separated paragraphs', async () => {
  const f = write(dir, 'p.txt', 'a b\nc d\n\n\ne f\r\n\r\ng\n');
  const rs = await collect(f, { kind: 'text', textUnit: 'paragraph', format: 'txt' });
  assert.deepEqual(rs.map((r) => (r.record.kind === 'text' ? r.record.text : '')), ['a b\nc d', 'e f', 'g']);
  assert.deepEqual(rs.map((r) => r.at.line), [1, 5, 7]);
});

test('empty, blank-only, missing and directory paths fail naming the path', async () => {
  await rejectsData(collect(write(dir, 'empty.txt', ''), { kind: 'text' }), /empty\.txt: file is empty/);
  await rejectsData(collect(write(dir, 'blank.txt', '\n  \n'), { kind: 'text', format: 'txt' }), /blank\.txt: no text/);
  await rejectsData(collect(path.join(dir, 'nope.txt'), { kind: 'text' }), /nope\.txt: no such file/);
  await rejectsData(collect(dir, { kind: 'text' }), /is a directory/);
});

test('txt refuses other kinds', async () => {
  await rejectsData(collect(write(dir, 'k.txt', 'x\n'), { kind: 'classification', format: 'txt' }), /only be imported as kind "text"/);
});
