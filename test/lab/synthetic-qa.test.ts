/**
 * synthetic-qa.test.ts: the cloze generator of builtin-qa: every answer is an exact span of its
 * context at its offset and occurs there once, the question is a sentence of the context with the
 * answer blanked, contexts never straddle the train/validation split, and the same seed gives
 * the same set (another seed another).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mobyDickDocuments, sotuDocuments } from '../../src-main/data/tokenizer/builtin-corpus.js';
import { BLANK, sentenceSpans, synthesizeQa } from '../../src-main/lab/synthetic-qa.js';

const docs = [...mobyDickDocuments()].slice(0, 40).concat([...sotuDocuments()].slice(0, 5));

test('sentenceSpans cuts after . ! ? before a capital', () => {
  const t = 'Call me Ishmael. Some years ago - never mind how long - I went. "Yes!" he said. End';
  assert.deepEqual(sentenceSpans(t).map((s) => t.slice(s.start, s.end)), ['Call me Ishmael.', 'Some years ago - never mind how long - I went.', '"Yes!" he said.', 'End']);
});

test('answers are exact, unique spans; questions are blanked sentences of the context', () => {
  const recs = synthesizeQa(docs, { count: 400, seed: 5 });
  assert.equal(recs.length, 400);
  const splitOf = new Map<string, string>();
  for (const { record: r, split } of recs) {
    const a = r.answers[0]!;
    assert.equal(r.answers.length, 1);
    assert.equal(r.isImpossible, false);
    assert.equal(r.context.slice(a.start, a.start + a.text.length), a.text, r.id);
    const lower = r.context.toLowerCase();
    const q = a.text.toLowerCase();
    let n = 0;
    for (let i = lower.indexOf(q); i >= 0; i = lower.indexOf(q, i + 1)) {
      if (!/[\p{L}\p{N}]/u.test(lower[i - 1] ?? ' ') && !/[\p{L}\p{N}]/u.test(lower[i + q.length] ?? ' ')) n++;
    }
    assert.equal(n, 1, `${r.id}: "${a.text}" occurs once in its context`);
    const [before, after] = r.question.split(BLANK);
    assert.ok(r.context.includes(before! + a.text + after!), `${r.id}: the question is a sentence of the context`);
    assert.ok(r.context.length <= 1000);
    const prev = splitOf.get(r.context);
    if (prev !== undefined) assert.equal(split, prev, 'a context stays in one split');
    splitOf.set(r.context, split!);
  }
  const val = recs.filter((r) => r.split === 'validation').length;
  assert.ok(val > 20 && val < 80, String(val));
});

test('deterministic given the seed', () => {
  const a = synthesizeQa(docs, { count: 100, seed: 1 });
  assert.deepEqual(synthesizeQa(docs, { count: 100, seed: 1 }), a);
  assert.notDeepEqual(synthesizeQa(docs, { count: 100, seed: 2 }).map((r) => r.record.question), a.map((r) => r.record.question));
});
