/**
 * load.test.ts: vocab.txt / tokenizer.json save and load round trips (same tokens, same encodings,
 * atomic writes leave no temp files) and every load error, each naming the file.
 * Not here: golden tokenization (wordpiece.test.ts), training (train.test.ts).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError } from '../../../src-main/data/types.js';
import { loadTokenizer, loadTokenizerJson, loadVocabTxt } from '../../../src-main/data/tokenizer/load.js';
import { HfWordPieceTokenizer } from '../../../src-main/data/tokenizer/wordpiece.js';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'fox', '##es', 'cr', '##eme', '🤖', '!'];
const TEXTS = ['The foxes!', 'Crème 🤖 fox', 'unknown words here', ''];

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-tok-'));
    try {
      await fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

async function sameEncodings(a: HfWordPieceTokenizer, b: HfWordPieceTokenizer): Promise<void> {
  for (const t of TEXTS) assert.deepEqual(await a.encode(t), await b.encode(t), t);
}

test('save writes vocab.txt and tokenizer.json atomically; both load back the same', withDir(async (dir) => {
  const tok = HfWordPieceTokenizer.fromTokens(VOCAB, 'mem');
  const out = path.join(dir, 'tok');
  await tok.save(out);
  assert.deepEqual(fs.readdirSync(out).sort(), ['tokenizer.json', 'vocab.txt']);
  assert.equal(fs.readFileSync(path.join(out, 'vocab.txt'), 'utf8'), VOCAB.join('\n') + '\n');
  const fromTxt = loadVocabTxt(path.join(out, 'vocab.txt'));
  const fromJson = loadTokenizerJson(path.join(out, 'tokenizer.json'));
  assert.deepEqual(fromTxt.tokens(), VOCAB);
  assert.deepEqual(fromJson.tokens(), VOCAB);
  assert.deepEqual(fromJson.special, tok.special);
  await sameEncodings(tok, fromTxt);
  await sameEncodings(tok, fromJson);
  // a folder loads its tokenizer.json; saving again over it works
  await sameEncodings(tok, loadTokenizer(out));
  await fromJson.save(out);
  assert.deepEqual(fs.readdirSync(out).sort(), ['tokenizer.json', 'vocab.txt']);
  assert.deepEqual(loadVocabTxt(path.join(out, 'vocab.txt')).tokens(), VOCAB);
}));

test('vocab.txt: CRLF, BOM and no final newline are accepted', withDir(async (dir) => {
  const f = path.join(dir, 'vocab.txt');
  fs.writeFileSync(f, '\uFEFF' + VOCAB.join('\r\n'));
  assert.deepEqual(loadVocabTxt(f).tokens(), VOCAB);
}));

test('load errors name the file', withDir((dir) => {
  const file = (name: string, text: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  assert.throws(() => loadVocabTxt(path.join(dir, 'missing.txt')), /missing\.txt: no such file/);
  assert.throws(() => loadVocabTxt(dir), /is a directory/);
  assert.throws(() => loadTokenizer(dir), /neither tokenizer\.json nor vocab\.txt/);
  assert.throws(() => loadVocabTxt(file('empty.txt', '')), /empty\.txt: empty file/);
  assert.throws(() => loadVocabTxt(file('blank.txt', '\n\n  \n')), /blank\.txt: empty file/);
  for (const special of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']) {
    const f = file('nospecial.txt', VOCAB.filter((t) => t !== special).join('\n'));
    assert.throws(() => loadVocabTxt(f), (e: Error) => e.message.includes('nospecial.txt') && e.message.includes(special));
  }
  assert.throws(() => loadVocabTxt(file('dup.txt', [...VOCAB, 'fox'].join('\n'))), /dup\.txt: line 13: duplicate token "fox" \(first on line 7\)/);
  assert.throws(() => loadVocabTxt(file('hole.txt', ['[PAD]', '', ...VOCAB.slice(1)].join('\n'))), /hole\.txt: line 2: empty token/);
  assert.throws(() => loadTokenizerJson(file('bad.json', '{"model": ')), /bad\.json: invalid JSON/);
  assert.throws(() => loadTokenizerJson(file('bpe.json', '{"model": {"type": "BPE", "vocab": {}}}')), /bpe\.json: model\.type is "BPE"/);
  assert.throws(() => loadTokenizerJson(file('nomodel.json', '{}')), /nomodel\.json: no "model"/);
  const vocab = Object.fromEntries(VOCAB.filter((t) => t !== '[MASK]').map((t, i) => [t, i]));
  assert.throws(() => loadTokenizerJson(file('nomask.json', JSON.stringify({ model: { type: 'WordPiece', vocab } }))), /nomask\.json: .*\[MASK\]/);
  const clash = { ...Object.fromEntries(VOCAB.map((t, i) => [t, i])), extra: 0 };
  assert.throws(() => loadTokenizerJson(file('clash.json', JSON.stringify({ model: { type: 'WordPiece', vocab: clash } }))), /clash\.json: model\.vocab: id 0/);
  assert.throws(() => loadTokenizerJson(path.join(dir, 'none.json')), /none\.json: no such file/);
  assert.throws(() => loadVocabTxt(path.join(dir, 'dup.txt')), (e: unknown) => e instanceof DataError && e.at.line === 13);
}));
