/**
 * qa.test.ts: QA windows round-trip answers (labels decode through the offsets to exactly the
 * answer text; windows without it and unanswerable questions point at [CLS]); post-processing of
 * logits peaking at the labels recovers the answer (EM = 1); SQuAD normalisation and EM/F1 on
 * hand-checked cases of the official script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QaRecord } from '../../../src-main/data/types.js';
import {
  answerTokenSpan,
  exactMatch,
  f1Score,
  normalizeAnswer,
  postprocessQa,
  prepareQaFeatures,
  splitQaLogits,
  squadScores,
  windowStarts,
  type QaFeatures,
} from '../../../src-main/data/tasks/qa.js';
import { mulberry32 } from '../../../src-main/data/tasks/batcher.js';
import { FakeTokenizer, WORDS } from './fake-tokenizer.js';

const tok = new FakeTokenizer();
const POOL = [...WORDS.filter((w) => !w.startsWith('##')), 'extraordinary', 'Zanzibar', 'ÉCOLE', 'ß', '𝒳yz', '🐋🐋'];

/** A random context of `nWords` words (words, punctuation, multi-byte, unknown), and an answer
 *  of 1..4 consecutive words whose first word index is `at` (clamped). */
function makeRecord(rand: () => number, id: string, nWords: number, at: number | 'random', impossible = false): QaRecord {
  const words = Array.from({ length: nWords }, () => POOL[Math.floor(rand() * POOL.length)]!);
  const seps = words.map(() => [' ', '  ', ' \n', '\t'][Math.floor(rand() * 4)]!);
  let context = '';
  const starts: number[] = [];
  words.forEach((w, i) => {
    starts.push(context.length);
    context += w + (i < nWords - 1 ? seps[i] : '');
  });
  const len = 1 + Math.floor(rand() * 4);
  let a = at === 'random' ? Math.floor(rand() * nWords) : at;
  a = Math.max(0, Math.min(a, nWords - len));
  const b = Math.min(nWords - 1, a + len - 1);
  const start = starts[a]!;
  const end = starts[b]! + words[b]!.length;
  const text = context.slice(start, end);
  return {
    kind: 'qa', id, question: 'what is the ' + words[a] + ' ?', context,
    answers: impossible ? [] : [{ text, start }], isImpossible: impossible,
  };
}

function windowText(f: QaFeatures, rec: QaRecord, r: number): string {
  const T = f.seqLen;
  const s = f.startPositions[r]!;
  const e = f.endPositions[r]!;
  return rec.context.slice(f.offsets[2 * (r * T + s)]!, f.offsets[2 * (r * T + e) + 1]!);
}

/** Checks every window and the post-processing; returns how many windows cut an answer in two. */
async function roundTrip(records: QaRecord[], maxSeqLen: number, docStride: number, maxQueryLength: number): Promise<number> {
  let straddling = 0;
  const f = await prepareQaFeatures(records, tok, { maxSeqLen, docStride, maxQueryLength });
  const T = f.seqLen;
  const windowsOf = records.map(() => 0);
  const labelled = records.map(() => 0);
  const cs = await tok.encodeBatch(records.map((r) => r.context));
  const qs = await tok.encodeBatch(records.map((r) => r.question));
  for (let r = 0; r < f.count; r++) {
    const ex = f.exampleIndex[r]!;
    const rec = records[ex]!;
    windowsOf[ex]!++;
    assert.equal(f.inputIds[r * T], tok.special.cls);
    const s = f.startPositions[r]!;
    const e = f.endPositions[r]!;
    // Does this window's context hold the whole answer? Decide from the offsets independently.
    let lo = Infinity;
    let hi = -Infinity;
    for (let t = 0; t < T; t++) {
      if (f.offsets[2 * (r * T + t)]! >= 0) {
        lo = Math.min(lo, f.offsets[2 * (r * T + t)]!);
        hi = Math.max(hi, f.offsets[2 * (r * T + t) + 1]!);
      }
    }
    const a = rec.answers[0];
    const holds = !rec.isImpossible && a !== undefined && lo <= a.start && a.start + a.text.length <= hi;
    if (holds) {
      labelled[ex]!++;
      assert.ok(s > 0 && e >= s, `${rec.id} window ${r}: labels ${s}..${e}`);
      assert.equal(f.tokenTypeIds[r * T + s], 1);
      assert.equal(windowText(f, rec, r), a.text, `${rec.id} window ${r}`);
    } else {
      assert.deepEqual([s, e], [0, 0], `${rec.id} window ${r} has no answer`);
      if (a && !rec.isImpossible && a.start < hi && a.start + a.text.length > lo) straddling++;
    }
  }
  records.forEach((rec, ex) => {
    const n = cs[ex]!.ids.length;
    if (!rec.isImpossible) assert.ok(labelled[ex]! >= 1, `${rec.id}: some window holds the answer`);
    if (n > maxSeqLen - 3 - Math.min(maxQueryLength, qs[ex]!.ids.length)) assert.ok(windowsOf[ex]! > 1, `${rec.id}: several windows`);
  });

  // Post-processing: logits peaking at the labelled positions recover the answer (EM = 1).
  const start = new Float32Array(f.count * T);
  const end = new Float32Array(f.count * T);
  for (let r = 0; r < f.count; r++) {
    start[r * T + f.startPositions[r]!] = 10;
    end[r * T + f.endPositions[r]!] = 10;
  }
  const preds = postprocessQa(records, f, start, end, { version2: true, maxAnswerLength: 64 });
  preds.forEach((p, ex) => assert.equal(p.text, records[ex]!.isImpossible ? '' : records[ex]!.answers[0]!.text, p.id));
  const scores = squadScores(records, new Map(preds.map((p) => [p.id, p.text])));
  assert.equal(scores.exactMatch, 1);
  assert.equal(scores.f1, 1);
  return straddling;
}

test('windowStarts: overlap of docStride tokens, last window reaches the end', () => {
  assert.deepEqual(windowStarts(0, 10, 3), [0]);
  assert.deepEqual(windowStarts(10, 10, 3), [0]);
  assert.deepEqual(windowStarts(11, 10, 3), [0, 7]);
  assert.deepEqual(windowStarts(25, 10, 4), [0, 6, 12, 18]);
});

test('answerTokenSpan covers the answer characters, null for whitespace', () => {
  const off = Int32Array.from([0, 3, 4, 7, 8, 12]);
  assert.deepEqual(answerTokenSpan(off, 4, 12), [1, 2]);
  assert.deepEqual(answerTokenSpan(off, 5, 6), [1, 1]);
  assert.equal(answerTokenSpan(off, 3, 4), null);
});

test('layout: [CLS] question [SEP] context [SEP] pad, type ids, mask', async () => {
  const rec: QaRecord = { kind: 'qa', id: 'x', question: 'who was born ?', context: 'Ahab was born in 1851.', answers: [{ text: '1851', start: 17 }], isImpossible: false };
  const f = await prepareQaFeatures([rec], tok, { maxSeqLen: 20, docStride: 2, maxQueryLength: 8 });
  const ids = Array.from(f.inputIds);
  const q = Array.from((await tok.encode(rec.question)).ids);
  const c = Array.from((await tok.encode(rec.context)).ids);
  const { cls, sep, pad } = tok.special;
  assert.deepEqual(ids, [cls, ...q, sep, ...c, sep, ...Array(20 - 3 - q.length - c.length).fill(pad)]);
  assert.deepEqual(Array.from(f.tokenTypeIds), [...Array(q.length + 2).fill(0), ...Array(c.length + 1).fill(1), ...Array(20 - 3 - q.length - c.length).fill(0)]);
  assert.equal(f.attentionMask.reduce((s, v) => s + v, 0), 3 + q.length + c.length);
  assert.equal(f.startPositions[0], q.length + 2 + 4);
  assert.equal(f.endPositions[0], q.length + 2 + 4); // inclusive end
});

test('QA round trips: 300 random records, answers anywhere, short and long contexts', async () => {
  const rand = mulberry32(7);
  const recs: QaRecord[] = [];
  for (let i = 0; i < 300; i++) {
    const n = 1 + Math.floor(rand() * 80);
    const at = i % 5 === 0 ? 0 : i % 5 === 1 ? n : 'random'; // very start, very end, anywhere
    recs.push(makeRecord(rand, `r${i}`, n, at, i % 7 === 3));
  }
  assert.ok((await roundTrip(recs, 32, 6, 8)) > 0);
  assert.ok((await roundTrip(recs, 24, 10, 6)) > 0); // heavy overlap: many windows cut answers
});

test('QA round trips: every answer position of one long context (window boundaries)', async () => {
  const rand = mulberry32(11);
  const base = makeRecord(rand, 'base', 60, 0);
  const recs: QaRecord[] = [];
  for (let at = 0; at < 60; at++) {
    const r = makeRecord(mulberry32(11), `at${at}`, 60, at);
    assert.equal(r.context, base.context);
    recs.push(r);
  }
  const cut = await roundTrip(recs, 28, 5, 8);
  assert.ok(cut >= 5, `windows cutting an answer in two: ${cut}`);
});

test('an answer inside a word piece and a multi-byte answer decode exactly', async () => {
  const ctx = 'the 😀 extraordinary café 東京 straße 🐋🐋 end';
  const mk = (text: string, id: string): QaRecord => ({ kind: 'qa', id, question: 'what ?', context: ctx, answers: [{ text, start: ctx.indexOf(text) }], isImpossible: false });
  const recs = [mk('extraordinary', 'w'), mk('😀', 'e'), mk('café 東京', 'c'), mk('🐋🐋', 'w2'), mk('straße', 's')];
  await roundTrip(recs, 16, 3, 4);
});

test('splitQaLogits de-interleaves (B, T, 2)', () => {
  const { start, end } = splitQaLogits(Float32Array.from([1, 2, 3, 4, 5, 6]), 1, 3);
  assert.deepEqual(Array.from(start), [1, 3, 5]);
  assert.deepEqual(Array.from(end), [2, 4, 6]);
});

test('post-processing: max answer length, null threshold, spans outside the context', async () => {
  const rec: QaRecord = { kind: 'qa', id: 'q', question: 'who ?', context: 'the captain of the ship', answers: [{ text: 'captain', start: 4 }], isImpossible: false };
  const f = await prepareQaFeatures([rec], tok, { maxSeqLen: 16, docStride: 2, maxQueryLength: 4 });
  const T = f.seqLen;
  const s = new Float32Array(T);
  const e = new Float32Array(T);
  s[1] = 50; e[1] = 50; // peak on the question token: not in the context, must be skipped
  // Sequence: 0 [CLS], 1 who, 2 ?, 3 [SEP], 4 the, 5 captain, 6 of, 7 the, 8 ship, 9 [SEP].
  s[5] = 5; e[8] = 6; // "captain of the ship": 4 tokens, score 11
  e[5] = 2; // "captain": score 7
  s[6] = 0.5;
  assert.equal(postprocessQa([rec], f, s, e)[0]!.text, 'captain of the ship');
  assert.equal(postprocessQa([rec], f, s, e, { maxAnswerLength: 3 })[0]!.text, 'captain');
  s[0] = 8; e[0] = 8; // null score 16 vs best 11
  assert.equal(postprocessQa([rec], f, s, e, { version2: true })[0]!.text, '');
  assert.equal(postprocessQa([rec], f, s, e, { version2: true, nullThreshold: 6 })[0]!.text, 'captain of the ship');
  assert.equal(postprocessQa([rec], f, s, e)[0]!.text, 'captain of the ship'); // v1 ignores null
  // A reversed pair (start 8, end 5) scores 40 but is no span: "captain" (23) wins.
  const s2 = new Float32Array(T);
  const e2 = new Float32Array(T);
  s2[8] = 20; e2[5] = 20; s2[5] = 3; e2[8] = 1;
  assert.equal(postprocessQa([rec], f, s2, e2)[0]!.text, 'captain');
});

test('official normalisation and EM/F1 on hand-checked cases', () => {
  assert.equal(normalizeAnswer('The  Cat!'), 'cat');
  assert.equal(normalizeAnswer('  An apple, a day.'), 'apple day');
  assert.equal(normalizeAnswer('theatre'), 'theatre'); // articles only as whole words
  assert.equal(normalizeAnswer('Café the-end'), 'café theend'); // punctuation removed before articles
  assert.equal(normalizeAnswer('éa b'), 'éa b'); // Python's \b is Unicode-aware
  // Values computed with evaluate-v2.0.py's compute_exact / compute_f1:
  assert.equal(exactMatch('the Eiffel Tower', 'Eiffel tower.'), 1);
  assert.equal(f1Score('Eiffel Tower in Paris', 'the Eiffel Tower'), 2 * (2 / 4) * 1 / (2 / 4 + 1)); // 0.666…
  assert.equal(f1Score('1851', '1851'), 1);
  assert.equal(f1Score('x b c', 'b c d e'), 2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4)); // 0.5714…
  assert.equal(f1Score('b b', 'b'), 2 * 0.5 * 1 / 1.5); // counts clipped: 0.666…
  assert.equal(f1Score('', ''), 1);
  assert.equal(f1Score('the', ''), 1); // normalises to empty
  assert.equal(f1Score('x', ''), 0);
  const recs: QaRecord[] = [
    { kind: 'qa', id: '1', question: '?', context: 'c', answers: [{ text: 'Denver Broncos', start: 0 }, { text: 'the Broncos', start: 0 }], isImpossible: false },
    { kind: 'qa', id: '2', question: '?', context: 'c', answers: [], isImpossible: true },
  ];
  const s = squadScores(recs, new Map([['1', 'Broncos'], ['2', '']]));
  assert.equal(s.exactMatch, 1 / 2 + 1 / 2); // "broncos" = normalised "the Broncos"; "" = no answer
  assert.equal(s.f1, 1);
  const s2 = squadScores(recs, new Map([['1', 'Denver'], ['2', 'Denver']]));
  assert.equal(s2.exactMatch, 0);
  assert.equal(s2.f1, (2 * 1 * 0.5 / 1.5) / 2); // max(2/3, 0) for 1, 0 for 2
});
