import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import { collect, rejectsData, tempDir, write } from './helpers';

const dir = tempDir('squad');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const ctx = 'Super Bowl 50 was an American football game. The Denver Broncos won.';
const v11 = { version: '1.1', data: [{ title: 'SB', paragraphs: [{ context: ctx, qas: [
  { id: 'a1', question: 'Who won?', answers: [{ text: 'Denver Broncos', answer_start: ctx.indexOf('Denver') }, { text: 'The Denver Broncos', answer_start: ctx.indexOf('The Denver') }] },
] }] }] };
const v20 = { version: 'v2.0', data: [{ title: 'SB', paragraphs: [{ context: ctx, qas: [
  { id: 'b1', question: 'Who won?', is_impossible: false, answers: [{ text: 'Denver Broncos', answer_start: ctx.indexOf('Denver') }] },
  { id: 'b2', question: 'Who lost?', is_impossible: true, answers: [], plausible_answers: [{ text: 'American football', answer_start: ctx.indexOf('American') }] },
] }] }] };

test('SQuAD v1.1', async () => {
  const rs = await collect(write(dir, 'train-v1.1.json', JSON.stringify(v11)), { kind: 'qa' });
  assert.equal(rs.length, 1);
  assert.deepEqual(rs[0]!.record, { kind: 'qa', id: 'a1', question: 'Who won?', context: ctx,
    answers: [{ text: 'Denver Broncos', start: 49 }, { text: 'The Denver Broncos', start: 45 }], isImpossible: false });
  assert.equal(rs[0]!.at.jsonPath, 'data[0].paragraphs[0].qas[0]');
});

test('SQuAD v2.0 with an impossible question (plausible answers not used as answers)', async () => {
  const rs = await collect(write(dir, 'dev-v2.0.json', `\ufeff${JSON.stringify(v20, null, 1)}`), { kind: 'qa' });
  assert.equal(rs.length, 2);
  const r = rs[1]!.record;
  assert.ok(r.kind === 'qa' && r.isImpossible && r.answers.length === 0);
});

test('bad offsets, wrong shapes and invalid UTF-8 name the JSON path or line', async () => {
  const off = structuredClone(v11);
  off.data[0]!.paragraphs[0]!.qas[0]!.answers[1]!.answer_start = 3;
  await rejectsData(collect(write(dir, 'off.json', JSON.stringify(off)), { kind: 'qa' }),
    /off\.json: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[1\]: answer 0 "The Denver Broncos" does not match the context at 3/);
  const out = structuredClone(v11);
  out.data[0]!.paragraphs[0]!.qas[0]!.answers[0]!.answer_start = 1000;
  await rejectsData(collect(write(dir, 'out.json', JSON.stringify(out)), { kind: 'qa' }), /outside the context/);
  const pl = structuredClone(v20);
  pl.data[0]!.paragraphs[0]!.qas[1]!.plausible_answers![0]!.answer_start = 0;
  await rejectsData(collect(write(dir, 'pl.json', JSON.stringify(pl)), { kind: 'qa' }), /qas\[1\]\.plausible_answers\[0\]/);
  await rejectsData(collect(write(dir, 'shape.json', '{"data":[{"paragraphs":[{"context":1,"qas":[]}]}]}'), { kind: 'qa' }),
    /shape\.json: data\[0\]\.paragraphs\[0\]\.context: expected a string/);
  await rejectsData(collect(write(dir, 'trunc.json', JSON.stringify(v11).slice(0, 60)), { kind: 'qa', format: 'squad' }), /trunc\.json: invalid JSON/);
  const bad = Buffer.concat([Buffer.from('{"data":\n[\n"'), Buffer.from([0xff]), Buffer.from('"]}')]);
  await rejectsData(collect(write(dir, 'utf.json', bad), { kind: 'qa', format: 'squad' }), /utf\.json: line 3: invalid UTF-8/);
  await rejectsData(collect(write(dir, 'none.json', '{"version":"1.1","data":[]}'), { kind: 'qa', format: 'squad' }), /no questions/);
  await rejectsData(collect(write(dir, 'k.json', JSON.stringify(v11)), { kind: 'text', format: 'squad' }), /only be imported as kind "qa"/);
});
