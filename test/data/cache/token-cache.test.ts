import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workerEncoder } from '../../../src-main/data/cache/encode-pool';
import { buildTokenCache, inlineEncoder, readTokenCache, streamTokenCache, writeTokenCache, type RecordTokens } from '../../../src-main/data/cache/token-cache';
import { trainWordPiece } from '../../../src-main/data/tokenizer/train';
import { DataError, type Encoding, type LocatedRecord, type WordPieceTokenizer } from '../../../src-main/data/types';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-tokcache-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A tiny honest tokenizer for tests: whitespace words, ids from a growing vocab, exact offsets. */
class FakeTokenizer implements WordPieceTokenizer {
  private vocab = new Map<string, number>([['[PAD]', 0], ['[UNK]', 1], ['[CLS]', 2], ['[SEP]', 3], ['[MASK]', 4]]);
  readonly special = { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 };
  get vocabSize(): number { return this.vocab.size; }
  async encode(text: string): Promise<Encoding> {
    const ids: number[] = [];
    const offsets: number[] = [];
    for (const m of text.matchAll(/\S+/g)) {
      const w = m[0].toLowerCase();
      if (!this.vocab.has(w)) this.vocab.set(w, this.vocab.size);
      ids.push(this.vocab.get(w)!);
      offsets.push(m.index, m.index + m[0].length);
    }
    return { ids: Int32Array.from(ids), offsets: Int32Array.from(offsets) };
  }
  async encodeBatch(texts: string[]): Promise<Encoding[]> { return Promise.all(texts.map((t) => this.encode(t))); }
  idToToken(id: number): string | undefined { return [...this.vocab].find(([, v]) => v === id)?.[0]; }
  tokenToId(t: string): number | undefined { return this.vocab.get(t); }
  async save(): Promise<void> {}
}

const at = { file: 'x' };
const cls: LocatedRecord[] = [
  { record: { kind: 'classification', text: 'a good film', label: '1' }, at, split: 'train' },
  { record: { kind: 'classification', text: 'bad', textPair: 'very bad', label: '0' }, at, split: 'validation' },
];
const qa: LocatedRecord[] = [
  { record: { kind: 'qa', id: 'q', question: 'who won ?', context: 'the Broncos won', answers: [{ text: 'Broncos', start: 4 }], isImpossible: false }, at },
  { record: { kind: 'qa', id: 'r', question: 'who lost ?', context: 'nobody', answers: [], isImpossible: true }, at },
];

test('classification cache round-trips', async () => {
  const c = await buildTokenCache(cls, new FakeTokenizer(), { name: 'sst2', kind: 'classification', tokenizer: 'fake-1', labelSet: ['0', '1'] });
  const f = path.join(dir, 'sst2.tok');
  const h = await writeTokenCache(f, c);
  assert.match(h.sha256, /^[0-9a-f]{64}$/);
  const back = await readTokenCache(f);
  assert.deepEqual(back.header, h);
  assert.deepEqual(back.arrays, c.arrays);
  assert.deepEqual([...back.arrays.bounds], [0, 3, 6]);
  assert.deepEqual([...back.arrays.pairStart], [3, 4]);
  assert.deepEqual([...back.arrays.labels], [1, 0]);
  assert.deepEqual(back.header.splits, ['train', 'validation']);
  assert.deepEqual([...back.arrays.offsets.subarray(0, 6)], [0, 1, 2, 6, 7, 11]);
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.tmp-')), []);
});

test('QA cache keeps question/context boundaries and answer char spans', async () => {
  const c = await buildTokenCache(qa, new FakeTokenizer(), { name: 'squad', kind: 'qa', tokenizer: 'fake-1' });
  const f = path.join(dir, 'squad.tok');
  await writeTokenCache(f, c);
  const { arrays } = await readTokenCache(f);
  assert.deepEqual([...arrays.pairStart], [3, 9]);
  assert.deepEqual([...arrays.bounds], [0, 6, 10]);
  assert.deepEqual([...arrays.answerBounds], [0, 1, 1]);
  assert.deepEqual([...arrays.answerSpans], [4, 11]);
  assert.deepEqual([...arrays.impossible], [0, 1]);
});

test('corruption and truncation are detected, naming the file', async () => {
  const c = await buildTokenCache(cls, new FakeTokenizer(), { name: 'sst2', kind: 'classification', tokenizer: 'fake-1' });
  const f = path.join(dir, 'good.tok');
  await writeTokenCache(f, c);
  const bytes = fs.readFileSync(f);
  const cases: [string, Buffer, RegExp][] = [
    ['flip.tok', Buffer.from(bytes.map((b, i) => (i === bytes.length - 3 ? b ^ 0xff : b))), /checksum mismatch/],
    ['trunc.tok', bytes.subarray(0, bytes.length - 4), /truncated/],
    ['head.tok', bytes.subarray(0, 20), /header length .* exceeds the file/],
    ['magic.tok', Buffer.concat([Buffer.from('NOTTOKEN'), bytes.subarray(8)]), /bad magic/],
    ['tiny.tok', bytes.subarray(0, 5), /bad magic/],
  ];
  for (const [name, data, re] of cases) {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    await assert.rejects(readTokenCache(p), (e: unknown) => e instanceof DataError && e.message.includes(name) && re.test(e.message));
  }
  await assert.rejects(readTokenCache(path.join(dir, 'absent.tok')), /absent\.tok: cannot read token cache/);
});

async function* streamOf(records: readonly LocatedRecord[]): AsyncGenerator<LocatedRecord> {
  for (const r of records) yield r;
}

test('the streaming writer writes the same bytes as build + write, and leaves no scratch files', async () => {
  const many: LocatedRecord[] = Array.from({ length: 5000 }, (_, i) => ({
    record: { kind: 'classification', text: `review ${i} of ${'word '.repeat(i % 7)}`, ...(i % 3 ? { textPair: i % 5 ? `pair ${i}` : '' } : {}), label: String(i % 3) },
    at, split: i % 4 ? 'train' : 'validation',
  }));
  for (const [name, recs, kind] of [['cls', cls, 'classification'], ['qa', qa, 'qa'], ['many', many, 'classification']] as const) {
    const meta = { name, kind, tokenizer: 'fake-1', labelSet: kind === 'classification' ? ['0'] : [] };
    const a = path.join(dir, `${name}-a.tok`), b = path.join(dir, `${name}-b.tok`);
    const h = await writeTokenCache(a, await buildTokenCache(recs, new FakeTokenizer(), meta));
    const scratch = fs.mkdtempSync(path.join(dir, 'scratch-'));
    const seen: RecordTokens[] = [];
    const progress: number[] = [];
    const hs = await streamTokenCache(streamOf(recs), inlineEncoder(new FakeTokenizer()), meta, b, {
      scratchDir: scratch, totalRecords: recs.length, onRecord: (r) => seen.push(r), onProgress: (d) => progress.push(d),
    });
    assert.deepEqual(hs, h, name);
    assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), name);
    assert.deepEqual(seen.map((r) => r.index), recs.map((_, i) => i));
    assert.equal(seen.reduce((s, r) => s + r.tokens, 0), h.numTokens);
    assert.equal(progress.at(-1), recs.length);
    assert.deepEqual(fs.readdirSync(scratch), [], 'section files removed');
  }
});

test('a worker-pool encoder gives the same cache as encoding in this thread', async () => {
  const tok = await trainWordPiece(['the whale swam in the deep sea', 'call me ishmael', 'caf\u00e9 na\u00efve \u{1F40B} whale'], { vocabSize: 200, source: 'test' });
  const tdir = path.join(dir, 'tok');
  await tok.save(tdir);
  const recs: LocatedRecord[] = Array.from({ length: 6000 }, (_, i) => ({ record: { kind: 'text', text: `the whale ${i} caf\u00e9 \u{1F40B} ishmael` }, at }));
  const meta = { name: 'w', kind: 'text' as const, tokenizer: 'tok' };
  const a = path.join(dir, 'w-inline.tok'), b = path.join(dir, 'w-pool.tok');
  await streamTokenCache(recs, inlineEncoder(tok), meta, a, { scratchDir: dir });
  const pool = workerEncoder(tdir, 2);
  try {
    await streamTokenCache(recs, pool, meta, b, { scratchDir: dir });
  } finally {
    await pool.close();
  }
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)));
  const bad = workerEncoder(path.join(dir, 'no-such-tokenizer'), 2);
  try {
    await assert.rejects(streamTokenCache(recs, bad, meta, path.join(dir, 'w-bad.tok'), { scratchDir: dir }), /no-such-tokenizer/);
  } finally {
    await bad.close();
  }
  assert.equal(fs.existsSync(path.join(dir, 'w-bad.tok')), false);
});

test('reading only some sections still verifies the whole checksum', async () => {
  const c = await buildTokenCache(qa, new FakeTokenizer(), { name: 'squad', kind: 'qa', tokenizer: 'fake-1' });
  const f = path.join(dir, 'part.tok');
  await writeTokenCache(f, c);
  const part = await readTokenCache(f, { sections: ['ids', 'bounds'] });
  assert.deepEqual(Object.keys(part.arrays).sort(), ['bounds', 'ids']);
  assert.deepEqual(part.arrays.ids, c.arrays.ids);
  assert.deepEqual(part.arrays.bounds, c.arrays.bounds);
  // Flip a byte inside the offsets section (not read into memory): still a checksum mismatch.
  const bytes = fs.readFileSync(f);
  const hlen = bytes.readUInt32LE(8);
  const flipped = Buffer.from(bytes);
  const inOffsets = 12 + hlen + c.arrays.ids.length * 4 + 1;
  flipped[inOffsets] = flipped[inOffsets]! ^ 0xff;
  const p = path.join(dir, 'part-flip.tok');
  fs.writeFileSync(p, flipped);
  await assert.rejects(readTokenCache(p, { sections: ['ids'] }), (e: unknown) => e instanceof DataError && /part-flip\.tok: corrupt token cache: checksum mismatch/.test(e.message));
});
