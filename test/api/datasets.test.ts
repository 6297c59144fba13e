/**
 * datasets.test.ts: the dataset operations of createLabApi against a real temporary lab with a
 * small trained tokenizer (test/lab/lab-fixture.ts): import from a path with progress events,
 * show with a tokenized preview and statistics (length histogram, label balance, QA answer
 * positions), the allowed-roots policy (outside, and a symlink pointing outside: forbidden), rm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLabApi } from '../../src-main/api/lab-api.js';
import { ApiError, type LabEvent } from '../../src-main/api/contract.js';
import { makeLab, TEST_TOKENIZER } from '../lab/lab-fixture.js';

const TSV = ['text\tlabel', ...Array.from({ length: 40 }, (_, i) => `call me ishmael number ${i} whale ${'sea '.repeat(i % 7)}\t${i % 3 === 0 ? 'pos' : 'neg'}`)].join('\n') + '\n';

function squad(n: number): string {
  const paragraphs = Array.from({ length: n }, (_, i) => {
    const context = `The whale number ${i} swam in the sea near the ship Pequod.`;
    return { context, qas: [{ id: `q${i}`, question: `Where did whale ${i} swim?`, answers: [{ text: 'the sea', answer_start: context.indexOf('the sea') }] }] };
  });
  return JSON.stringify({ version: '1.1', data: [{ title: 't', paragraphs }] });
}

test('datasets: import from a path with progress, show with preview and statistics, rm', async () => {
  const lab = await makeLab();
  const api = createLabApi({ dataDir: lab.dir, allowedRoots: [path.dirname(lab.dir)], log: () => undefined });
  try {
    const file = lab.file('reviews.tsv', TSV);
    const events: LabEvent[] = [];
    api.events.subscribe({ kind: 'jobs' }, (e) => events.push(e));
    const r = await api.call('datasets.import', { source: { type: 'path', path: file }, kind: 'classification', tokenizer: TEST_TOKENIZER, jobId: 'imp-1' });
    assert.equal(r.dataset.name, 'reviews');
    assert.equal(r.dataset.numRecords, 40);
    assert.ok(events.some((e) => e.type === 'job.progress' && e.jobId === 'imp-1'), 'progress events carry the job id');
    assert.deepEqual((await api.call('datasets.list', {})).map((d) => d.name), ['reviews']);

    const show = await api.call('datasets.show', { name: 'reviews', rows: 3 });
    assert.deepEqual(show.problems, []);
    assert.equal(show.preview.length, 3);
    const seg = show.preview[0]!.segments[0]!;
    assert.equal(seg.field, 'text');
    const text = (show.preview[0]!.record as { text: string }).text;
    assert.ok(seg.tokens.length > 3);
    assert.equal(text.slice(seg.tokens[0]!.start, seg.tokens[0]!.end), 'call');
    const st = show.statistics!;
    assert.equal(st.records, 40);
    assert.equal(st.lengthHistogram.counts.reduce((a, b) => a + b, 0), 40);
    assert.deepEqual(st.labelBalance!.map((l) => [l.label, l.count]), [['neg', 26], ['pos', 14]]);
    assert.equal(st.qaAnswerPositions, null);
    const split = await api.call('datasets.show', { name: 'reviews', rows: 2, split: 'validation', statistics: false });
    assert.ok(split.preview.every((p) => p.split === 'validation'));
    assert.equal(split.statistics, null);

    const qa = await api.call('datasets.import', { source: { type: 'path', path: lab.file('whales.json', squad(20)) }, kind: 'qa', tokenizer: TEST_TOKENIZER });
    const qs = (await api.call('datasets.show', { name: qa.dataset.name, rows: 1 })).statistics!;
    assert.equal(qs.qaAnswerPositions!.answers, 20);
    assert.equal(qs.qaAnswerPositions!.relative.counts.reduce((a, b) => a + b, 0), 20);
    // "The whale number i swam in the sea ...": the answer starts at the 7th token or later (word pieces).
    assert.ok(qs.qaAnswerPositions!.tokenStart.edges[0]! >= 6);
    assert.equal(qs.qaAnswerPositions!.tokenStart.counts.reduce((a, b) => a + b, 0), 20);
    assert.equal(qs.qaAnswerPositions!.relative.edges.length, 11);

    const dup = await api.call('datasets.import', { source: { type: 'path', path: file }, kind: 'classification', tokenizer: TEST_TOKENIZER }).catch((e: ApiError) => e);
    assert.ok(dup instanceof ApiError && dup.code === 'conflict', String(dup));

    const rm = await api.call('datasets.rm', { name: 'reviews' });
    assert.equal(rm.rowRemoved, true);
    assert.deepEqual((await api.call('datasets.list', {})).map((d) => d.name), ['whales']);
    assert.deepEqual((await api.call('tokenizers.list', {})).map((t) => t.name), [TEST_TOKENIZER]);
  } finally {
    await api.close();
    lab.close();
  }
});

test('datasets.import: a path outside the allowed roots (or a symlink to one) is forbidden, nothing imported', async () => {
  const lab = await makeLab();
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-outside-'));
  const api = createLabApi({ dataDir: lab.dir, allowedRoots: [lab.dir], log: () => undefined });
  try {
    const secret = path.join(outside, 'secret.txt');
    fs.writeFileSync(secret, 'not for you\n');
    const link = path.join(lab.dir, 'innocent.txt');
    fs.symlinkSync(secret, link);
    for (const p of [secret, link, path.join(lab.dir, '..', '..', path.basename(outside), 'secret.txt'), path.join(outside, 'missing.txt')]) {
      const e = await api.call('datasets.import', { source: { type: 'path', path: p }, kind: 'text', tokenizer: TEST_TOKENIZER }).catch((x: unknown) => x);
      assert.ok(e instanceof ApiError, String(e));
      assert.equal(e.code, 'forbidden', p);
      assert.match(e.message, /outside the folders this server may read/);
    }
    const rel = await api.call('datasets.import', { source: { type: 'path', path: 'secret.txt' }, kind: 'text' }).catch((x: ApiError) => x);
    assert.equal((rel as ApiError).code, 'bad-request');
    assert.deepEqual(await api.call('datasets.list', {}), []);
  } finally {
    await api.close();
    lab.close();
    fs.rmSync(outside, { recursive: true, force: true });
  }
});
