/**
 * wordpiece.test.ts: golden tests of the BERT WordPiece tokenizer on tricky strings (accents, CJK,
 * emoji/astral characters, punctuation runs, over-long words, empty and whitespace-only text,
 * mixed scripts) with a small vocabulary written here; checks that offsets are exact UTF-16
 * indices (text.slice(start, end), normalised like BERT, equals the token without '##'), that
 * encodeBatch equals encode, and the code-point → UTF-16 conversion on its own.
 * Not here: training, loading and saving (train.test.ts, load.test.ts).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { HfWordPieceTokenizer, codePointToUtf16, extendOverMarks } from '../../../src-main/data/tokenizer/wordpiece.js';

const VOCAB = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]',
  'creme', 'bru', '##lee', 'i', 'robots', '🤖', 'x', '##🤖', '##y',
  '北', '京', '大', '学', 'wait', '.', '!', '?', 'hello', 'мир', 'αθηνα', 'a', '##a', 'cafe', 'un', '##aff', '##able',
];
const tok = HfWordPieceTokenizer.fromTokens(VOCAB, 'test-vocab');

/** BERT's normalisation of a span, as the binding does it: NFD, drop marks, lowercase. */
function norm(s: string): string {
  return s.normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase();
}

async function pieces(text: string): Promise<{ tokens: string[]; spans: [number, number][] }> {
  const e = await tok.encode(text);
  const tokens = [...e.ids].map((id) => tok.idToToken(id)!);
  const spans: [number, number][] = [];
  for (let i = 0; i < e.ids.length; i++) spans.push([e.offsets[2 * i]!, e.offsets[2 * i + 1]!]);
  return { tokens, spans };
}

/** Every non-[UNK] token equals its normalised source span (without '##'); spans are in order
 *  and inside the text. */
function checkOffsets(text: string, tokens: string[], spans: [number, number][]): void {
  let last = 0;
  tokens.forEach((t, i) => {
    const [s, e] = spans[i]!;
    assert.ok(s >= last && s < e && e <= text.length, `span ${s},${e} of "${t}" in ${JSON.stringify(text)}`);
    last = s;
    if (t !== '[UNK]') assert.equal(norm(text.slice(s, e)), t.replace(/^##/, ''), `token ${t} of ${JSON.stringify(text)}`);
  });
}

const GOLDEN: [string, string[], [number, number][]][] = [
  ['Crème brûlée', ['creme', 'bru', '##lee'], [[0, 5], [6, 9], [9, 12]]],
  ['北京大学', ['北', '京', '大', '学'], [[0, 1], [1, 2], [2, 3], [3, 4]]],
  // ❤️ is U+2764 U+FE0F: the variation selector is a mark, stripped with the accents; the span
  // still covers it.
  ['I ❤️ 🤖 robots', ['i', '[UNK]', '🤖', 'robots'], [[0, 1], [2, 4], [5, 7], [8, 14]]],
  ['x🤖🤖y', ['x', '##🤖', '##🤖', '##y'], [[0, 1], [1, 3], [3, 5], [5, 6]]],
  ['🤖 x 🤖', ['🤖', 'x', '🤖'], [[0, 2], [3, 4], [5, 7]]],
  ['wait...!?!', ['wait', '.', '.', '.', '!', '?', '!'], [[0, 4], [4, 5], [5, 6], [6, 7], [7, 8], [8, 9], [9, 10]]],
  ['a'.repeat(200), ['[UNK]'], [[0, 200]]],
  ['', [], []],
  ['   \t\n  \u3000 ', [], []],
  ['Hello мир, 北京!', ['hello', 'мир', '[UNK]', '北', '京', '!'], [[0, 5], [6, 9], [9, 10], [11, 12], [12, 13], [13, 14]]],
  ['ΆΘΗΝΑ unaffable', ['αθηνα', 'un', '##aff', '##able'], [[0, 5], [6, 8], [8, 11], [11, 15]]],
  // decomposed accent: the removed U+0301 stays inside the span (the binding alone gives [0,4])
  ['cafe\u0301 CAFÉ', ['cafe', 'cafe'], [[0, 5], [6, 10]]],
  ['bru\u0302lee\u0301\u0301!', ['bru', '##lee', '!'], [[0, 4], [4, 9], [9, 10]]],
  ['🤖 Crème', ['🤖', 'creme'], [[0, 2], [3, 8]]],
];

test('golden: tokens and exact UTF-16 offsets on tricky strings', async () => {
  for (const [text, tokens, spans] of GOLDEN) {
    const got = await pieces(text);
    assert.deepEqual(got.tokens, tokens, JSON.stringify(text));
    assert.deepEqual(got.spans, spans, JSON.stringify(text));
    checkOffsets(text, got.tokens, got.spans);
  }
});

test('max_input_chars_per_word: 100 chars still split, 101 become [UNK]', async () => {
  const ok = await pieces('a'.repeat(100));
  assert.equal(ok.tokens.length, 100);
  assert.deepEqual(ok.tokens.slice(0, 2), ['a', '##a']);
  assert.deepEqual((await pieces('a'.repeat(101))).tokens, ['[UNK]']);
  // counted in characters, not UTF-16 units: 60 robots are 120 units but 60 chars
  const bots = await pieces('x' + '🤖'.repeat(60));
  assert.equal(bots.tokens.length, 61);
  checkOffsets('x' + '🤖'.repeat(60), bots.tokens, bots.spans);
});

test('offsets stay exact after astral characters, accents and other scripts', async () => {
  const text = '🤖🤖 İ Crème 北京 wait... 𝒳 hello robots 🤖';
  const got = await pieces(text);
  checkOffsets(text, got.tokens, got.spans);
  assert.deepEqual(got.tokens.slice(-3), ['hello', 'robots', '🤖']);
  assert.equal(text.slice(got.spans.at(-1)![0], got.spans.at(-1)![1]), '🤖');
});

test('special tokens come from the vocabulary', () => {
  assert.deepEqual(tok.special, { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 });
  assert.equal(tok.vocabSize, VOCAB.length);
  assert.equal(tok.tokenToId('robots'), 9);
  assert.equal(tok.tokenToId('nope'), undefined);
  assert.equal(tok.idToToken(9999), undefined);
  assert.throws(() => HfWordPieceTokenizer.fromTokens(['[PAD]', '[UNK]', 'a'], 'v.txt'), /v\.txt: .*\[CLS\] \[SEP\] \[MASK\]/);
});

test('encodeBatch equals encode', async () => {
  const texts = GOLDEN.map((g) => g[0]).concat(['one more 🤖 robots text', 'x'.repeat(7)]);
  const batch = await tok.encodeBatch(texts);
  assert.equal(batch.length, texts.length);
  for (let i = 0; i < texts.length; i++) {
    const one = await tok.encode(texts[i]!);
    assert.deepEqual(batch[i]!.ids, one.ids);
    assert.deepEqual(batch[i]!.offsets, one.offsets);
  }
  assert.deepEqual(await tok.encodeBatch([]), []);
});

test('extendOverMarks covers dropped marks but never reaches the next token', () => {
  assert.deepEqual(extendOverMarks('e\u0301x', Int32Array.from([0, 1, 2, 3])), Int32Array.from([0, 2, 2, 3]));
  assert.deepEqual(extendOverMarks('e\u0301', Int32Array.from([0, 1])), Int32Array.from([0, 2]));
  assert.deepEqual(extendOverMarks('ab', Int32Array.from([0, 1, 1, 2])), Int32Array.from([0, 1, 1, 2]));
  assert.deepEqual(extendOverMarks('e\u0301\u0301', Int32Array.from([0, 1, 1, 3])), Int32Array.from([0, 1, 1, 3]));
});

test('codePointToUtf16 maps code point offsets to string indices', () => {
  assert.deepEqual(codePointToUtf16('abc', Int32Array.from([0, 1, 2, 3])), Int32Array.from([0, 1, 2, 3]));
  // 🤖 = 2 units; 'é' = 1 unit
  assert.deepEqual(codePointToUtf16('🤖é🤖x', Int32Array.from([0, 1, 1, 2, 2, 3, 3, 4])), Int32Array.from([0, 2, 2, 3, 3, 5, 5, 6]));
  // lone surrogate counts as one code point
  assert.deepEqual(codePointToUtf16('\uD800a', Int32Array.from([1, 2])), Int32Array.from([1, 2]));
});
