import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import { collect, rejectsData, tempDir, write } from './helpers';

const dir = tempDir('jsonl');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('classification with default fields (sentence, label, sentence2)', async () => {
  const f = write(dir, 'c.jsonl', '{"sentence":"good","label":1,"sentence2":"b"}\n\n{"sentence":"bad","label":0}\n');
  const rs = await collect(f, { kind: 'classification', labels: ['0', '1'] });
  assert.deepEqual(rs.map((r) => r.record), [
    { kind: 'classification', text: 'good', label: '1', textPair: 'b' },
    { kind: 'classification', text: 'bad', label: '0' },
  ]);
  assert.deepEqual(rs.map((r) => r.at.line), [1, 3]);
});

test('selectable field names and a split field', async () => {
  const f = write(dir, 'd.jsonl', '{"body":"x","y":"pos","split":"validation"}\n{"body":"z","y":"neg","split":"train"}\n');
  const rs = await collect(f, { kind: 'classification', columns: { text: 'body', label: 'y' } });
  assert.deepEqual(rs.map((r) => r.split), ['validation', 'train']);
});

test('QA records with offsets checked', async () => {
  const good = { id: 'q1', question: 'who?', context: 'Ada wrote it', answers: { text: ['Ada'], answer_start: [0] } };
  const f = write(dir, 'qa.jsonl', `${JSON.stringify(good)}\n`);
  const [r] = await collect(f, { kind: 'qa' });
  assert.deepEqual(r!.record, { kind: 'qa', id: 'q1', question: 'who?', context: 'Ada wrote it', answers: [{ text: 'Ada', start: 0 }], isImpossible: false });
  const bad = { ...good, answers: [{ text: 'Ada', answer_start: 2 }] };
  await rejectsData(collect(write(dir, 'qa2.jsonl', `${JSON.stringify(good)}\n${JSON.stringify(bad)}\n`), { kind: 'qa' }),
    /qa2\.jsonl: line 2: answer 0 "Ada" does not match the context at 2/);
});

test('bad inputs name the line', async () => {
  await rejectsData(collect(write(dir, 'e1.jsonl', '{"text":"a"}\n{"text":\n'), { kind: 'text' }), /e1\.jsonl: line 2: invalid JSON/);
  await rejectsData(collect(write(dir, 'e2.jsonl', '{"text":"a"}\n[1]\n'), { kind: 'text', format: 'jsonl' }), /line 2: expected a JSON object/);
  await rejectsData(collect(write(dir, 'e3.jsonl', '{"text":"a","label":"x"}\n{"text":"b"}\n'), { kind: 'classification' }), /line 2: missing field "label"/);
  await rejectsData(collect(write(dir, 'e4.jsonl', '{"body":"a"}\n'), { kind: 'text' }), /line 1: missing text column/);
  await rejectsData(collect(write(dir, 'e5.jsonl', '{"text":"a","label":"7"}\n'), { kind: 'classification', labels: ['0', '1'] }),
    /line 1: label "7" is not in the declared label set/);
  await rejectsData(collect(write(dir, 'e6.jsonl', '{"text":5}\n'), { kind: 'text' }), /must be a string/);
  await rejectsData(collect(write(dir, 'e7.jsonl', '{"text":"a"}\n'), { kind: 'text', columns: { text: 'body' } }), /missing column "body"/);
});
