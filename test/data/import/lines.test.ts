import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import { readLines, firstInvalidUtf8 } from '../../../src-main/data/import/lines';
import { ImportCancelledError } from '../../../src-main/data/import/common';
import { rejectsData, tempDir, write } from './helpers';

const dir = tempDir('lines');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function lines(file: string, opts = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readLines(file, fs.statSync(file).size, opts)) out.push(l.text);
  return out;
}

test('CRLF and LF, last line without newline', async () => {
  const f = write(dir, 'crlf.txt', 'a\r\nb\nc\r\nd');
  assert.deepEqual(await lines(f), ['a', 'b', 'c', 'd']);
});

test('multi-byte characters straddling 64 KiB chunk boundaries decode whole', async () => {
  const unit = 'é€😀x';
  let s = '';
  while (Buffer.byteLength(s) < 300_000) s += unit + (s.length % 97 === 0 ? '\n' : '');
  const f = write(dir, 'mb.txt', s);
  assert.deepEqual((await lines(f)).join('\n'), s);
});

test('invalid UTF-8 names the line', async () => {
  const f = write(dir, 'bad.txt', Buffer.concat([Buffer.from('ok\nfine\nba'), Buffer.from([0xc3, 0x28]), Buffer.from('d\n')]));
  await rejectsData(lines(f), /bad\.txt: line 3: invalid UTF-8/);
  assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80])), 1); // surrogate
  assert.equal(firstInvalidUtf8(Buffer.from('héllo')), 6);
});

test('a BOM is stripped and noted', async () => {
  const f = write(dir, 'bom.txt', '\ufeffhello\nworld\n');
  const notes: string[] = [];
  assert.deepEqual(await lines(f, { onNote: (at: { line?: number }, n: string) => notes.push(`${at.line}:${n}`) }), ['hello', 'world']);
  assert.deepEqual(notes, ['1:byte-order mark stripped']);
});

test('progress reaches the total, and abort throws import cancelled', async () => {
  const f = write(dir, 'big.txt', 'line of text\n'.repeat(50_000));
  const seen: number[] = [];
  await lines(f, { onProgress: (r: number, t: number) => { seen.push(r); assert.equal(t, fs.statSync(f).size); } });
  assert.equal(seen.at(-1), fs.statSync(f).size);
  const ac = new AbortController();
  let n = 0;
  await assert.rejects(
    (async () => { for await (const _ of readLines(f, 1, { signal: ac.signal })) if (++n === 10) ac.abort(); })(),
    (e: unknown) => e instanceof ImportCancelledError && /import cancelled: .*big\.txt/.test(e.message),
  );
  assert.equal(n, 10);
});
