/**
 * train.test.ts: WordPiece vocabulary training: special tokens first, the requested size, the same
 * vocabulary (ids included) for the same input, files and async iterables as input, clear errors.
 * Not here: the tokenizer's golden strings (wordpiece.test.ts), load/save (load.test.ts).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { trainVocab, trainWordPiece, trainWordPieceFromFiles } from '../../../src-main/data/tokenizer/train.js';
import { SPECIAL_TOKENS } from '../../../src-main/data/tokenizer/wordpiece.js';

const CORPUS = [
  'The quick brown fox jumps over the lazy dog.',
  'The lazy dog sleeps; the quick fox runs away!',
  'Crème brûlée is a dessert. Brûlée means burnt.',
  'Call me Ishmael. Some years ago, never mind how long precisely.',
  'Jumping foxes and sleeping dogs: the fox jumped, the dogs slept.',
  '北京大学 is a university in 北京.',
];
const corpus = (): string[] => Array.from({ length: 20 }, (_, i) => CORPUS[i % CORPUS.length]!);

test('trains a vocabulary of the requested size, special tokens first', async () => {
  const vocab = await trainVocab(corpus(), { vocabSize: 160 });
  assert.equal(vocab.length, 160);
  assert.deepEqual(vocab.slice(0, 5), [...SPECIAL_TOKENS]);
  assert.equal(new Set(vocab).size, vocab.length, 'no duplicates');
  for (const t of ['the', 'fox', 'dog', 'quick', '##s', 'e', '北']) assert.ok(vocab.includes(t), t);
});

test('training is deterministic (same input → same ids)', async () => {
  const a = await trainVocab(corpus(), { vocabSize: 150 });
  const b = await trainVocab(corpus(), { vocabSize: 150 });
  assert.deepEqual(a, b);
  // a smaller size is a prefix of a larger one (merges are learned in a fixed order)
  const c = await trainVocab(corpus(), { vocabSize: 120 });
  assert.deepEqual(c, a.slice(0, 120));
});

test('the trained tokenizer encodes its corpus without [UNK] and stops when pairs run out', async () => {
  const tok = await trainWordPiece(corpus(), { vocabSize: 100000 });
  assert.ok(tok.vocabSize < 1000, 'vocabulary stops growing when no pair occurs twice');
  assert.deepEqual(tok.special, { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 });
  for (const text of CORPUS) {
    const e = await tok.encode(text);
    assert.ok(e.ids.length > 0);
    assert.ok(![...e.ids].includes(tok.special.unk), text);
  }
  const e = await tok.encode('the quick brown fox');
  assert.deepEqual([...e.ids].map((id) => tok.idToToken(id)), ['the', 'quick', 'brown', 'fox']);
});

test('trains from files and async iterables like from arrays', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-train-'));
  try {
    const f = path.join(dir, 'corpus.txt');
    fs.writeFileSync(f, corpus().join('\n') + '\n');
    const fromFile = await trainWordPieceFromFiles([f], { vocabSize: 150 });
    async function* gen(): AsyncGenerator<string> {
      for (const t of corpus()) yield t;
    }
    const fromAsync = await trainVocab(gen(), { vocabSize: 150 });
    assert.deepEqual(fromFile.tokens(), await trainVocab(corpus(), { vocabSize: 150 }));
    assert.deepEqual(fromAsync, fromFile.tokens());
    await assert.rejects(trainWordPieceFromFiles([path.join(dir, 'nope.txt')], { vocabSize: 150 }), /nope\.txt: no such file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('errors: empty corpus, bad size', async () => {
  await assert.rejects(trainVocab(['', '   '], { vocabSize: 100, source: 'empty.txt' }), /empty\.txt: no words/);
  await assert.rejects(trainVocab(corpus(), { vocabSize: 3, source: 'c' }), /c: vocabulary size 3/);
  await assert.rejects(trainVocab(corpus(), { vocabSize: 1.5 }), /vocabulary size/);
});
