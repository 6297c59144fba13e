/**
 * runs.test.ts: the run-history operations of createLabApi against a real temporary lab with
 * recorded runs (test/lab/runs-fixture.ts): list (paging, sorting, filters), show, edits, series,
 * compare with its config diff, export, remove, cancel of an ended run, and how errors come out
 * (codes, messages naming the run; internal errors without stacks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createLabApi } from '../../src-main/api/lab-api.js';
import { ApiError } from '../../src-main/api/contract.js';
import { toApiError } from '../../src-main/api/errors.js';
import { makeLab } from '../lab/runs-fixture.js';

async function code(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return { code: e.code, message: e.message };
  }
  assert.fail('expected an ApiError');
}

function withApi(f: (api: ReturnType<typeof createLabApi>, lab: ReturnType<typeof makeLab>) => Promise<void>): () => Promise<void> {
  return async () => {
    const lab = makeLab();
    const logs: string[] = [];
    const api = createLabApi({ dataDir: lab.dir, log: (t) => logs.push(t) });
    try {
      await f(api, lab);
    } finally {
      await api.close();
      lab.cleanup();
    }
  };
}

test('runs.list pages, sorts and filters', withApi(async (api, lab) => {
  const all = await api.call('runs.list', {});
  assert.equal(all.total, 3);
  assert.deepEqual(all.items.map((i) => i.run.name), ['live', 'lsh_50%', 'baseline']);
  assert.equal(all.items.find((i) => i.run.name === 'baseline')?.lastTrainLoss, 5);
  const page = await api.call('runs.list', { limit: 1, offset: 1, sort: { field: 'name', dir: 'asc' } });
  assert.deepEqual([page.total, page.items.map((i) => i.run.name)], [3, ['live']]);
  assert.deepEqual((await api.call('runs.list', { filter: { tag: 'paper' } })).items.map((i) => i.run.id).sort(), [lab.baseline.id, lab.live.id].sort());
  assert.deepEqual((await api.call('runs.list', { filter: { text: 'LSH' } })).items.map((i) => i.run.name), ['lsh_50%']);
  assert.deepEqual((await api.call('runs.list', { filter: { task: 'classification' } })).items.map((i) => i.run.name), ['live']);
  assert.equal((await api.call('runs.list', { filter: { status: ['finished'], attention: 'bert-lsh' } })).total, 1);
  const byLoss = await api.call('runs.list', { sort: { field: 'lastTrainLoss', dir: 'asc' } });
  assert.deepEqual(byLoss.items.map((i) => i.lastTrainLoss), [0.7, 3.25, 5]);
}));

test('runs.list: best losses and evaluation scores with their steps, sortable', withApi(async (api) => {
  const all = await api.call('runs.list', {});
  const best = new Map(all.items.map((i) => [i.run.name, i.best]));
  assert.deepEqual(best.get('baseline'), {
    trainLoss: { value: 5, step: 200 }, evalSplit: 'validation', evalLoss: { value: 2, step: 200 }, evalScore: { value: 0.5, step: 200, metric: 'accuracy' },
  });
  // NaN in the loss history is never a best; its only evaluations are on 'test'.
  assert.deepEqual(best.get('lsh_50%'), {
    trainLoss: { value: 3.25, step: 100 }, evalSplit: 'test', evalLoss: { value: 1, step: 100 }, evalScore: { value: 0.75, step: 100, metric: 'accuracy' },
  });
  assert.deepEqual(best.get('live'), { trainLoss: { value: 0.7, step: 10 }, evalSplit: null, evalLoss: null, evalScore: null });

  const names = async (field: 'bestTrainLoss' | 'bestEvalLoss' | 'bestEvalScore', dir: 'asc' | 'desc', filter = {}) =>
    (await api.call('runs.list', { sort: { field, dir }, filter })).items.map((i) => i.run.name);
  assert.deepEqual(await names('bestTrainLoss', 'asc'), ['live', 'lsh_50%', 'baseline']);
  // Runs without evaluations sort last in either direction.
  assert.deepEqual(await names('bestEvalLoss', 'asc'), ['lsh_50%', 'baseline', 'live']);
  assert.deepEqual(await names('bestEvalLoss', 'desc'), ['baseline', 'lsh_50%', 'live']);
  assert.deepEqual(await names('bestEvalScore', 'desc'), ['lsh_50%', 'baseline', 'live']);
  assert.deepEqual(await names('bestEvalScore', 'asc', { task: 'mlm' }), ['baseline', 'lsh_50%']);
  // A page of a best sort carries the page's bests too.
  const page = await api.call('runs.list', { sort: { field: 'bestEvalScore', dir: 'desc' }, limit: 1, offset: 1 });
  assert.deepEqual([page.total, page.items[0]?.run.name, page.items[0]?.best.evalScore?.value, page.items[0]?.lastTrainLoss], [3, 'baseline', 0.5, 5]);
  // Other sorts fill the page's bests as well.
  const byName = await api.call('runs.list', { sort: { field: 'name', dir: 'asc' }, limit: 1 });
  assert.deepEqual(byName.items[0]?.best.trainLoss, { value: 5, step: 200 });
}));

test('runs.show, edits, series, compare and export', withApi(async (api, lab) => {
  const show = await api.call('runs.show', { run: 'baseline' });
  assert.equal(show.run.id, lab.baseline.id);
  assert.ok(show.summaries.some((s) => s.key === 'train/loss'));
  assert.equal(show.resumable, false);
  assert.equal(show.resumedFrom, null, 'trained from step 0');
  // A run resumed from lsh_50%'s checkpoint names that run and the step it continued from.
  const ck = path.join(lab.dir, 'runs', lab.lsh.uuid, 'checkpoints', 'step-00000100');
  const resumed = lab.store.runs.create({
    name: 'lsh_50%', task: 'mlm', datasetName: 'wiki', modelConfig: {}, attention: 'bert-lsh', attentionParams: { bands: 2 },
    trainConfig: { task: 'mlm', dataset: 'wiki', steps: 150, fromCheckpoint: ck }, seed: '42', status: 'finished',
  });
  assert.deepEqual((await api.call('runs.show', { run: String(resumed.id) })).resumedFrom, { runId: lab.lsh.id, runName: 'lsh_50%', step: 100, checkpoint: ck });
  lab.store.metrics.append(resumed.id, [{ key: 'train/start_step', step: 99, value: 99 }]);
  assert.equal((await api.call('runs.show', { run: String(resumed.id) })).resumedFrom?.step, 99, 'the step the host recorded wins');
  lab.store.runs.remove(resumed.id);
  assert.equal((await api.call('runs.show', { run: String(lab.lsh.id) })).resumable, true);

  assert.deepEqual((await api.call('runs.tag', { run: 'baseline', tags: ['x1'] })).tags.sort(), ['paper', 'x1']);
  assert.deepEqual((await api.call('runs.untag', { run: 'baseline', tags: ['x1'] })).tags, ['paper']);
  assert.equal((await api.call('runs.note', { run: 'baseline', notes: 'lr too high' })).notes, 'lr too high');
  assert.equal((await api.call('runs.rename', { run: 'baseline', name: 'base' })).name, 'base');

  const s = await api.call('runs.series', { runs: ['base'], keys: ['train/loss'], buckets: 10 });
  assert.equal(s.series.length, 1);
  assert.ok(s.series[0]!.buckets.length <= 10 && s.series[0]!.buckets.length > 0);
  assert.equal(s.series[0]!.buckets.at(-1)!.last, 5);

  const c = await api.call('runs.compare', { runs: ['base', 'lsh_50%'] });
  assert.equal(c.comparison.columns.length, 2);
  assert.match(c.rendered.text, /Training loss/);
  assert.match(c.rendered.markdown, /\|/);
  const diff = new Map(c.configDiff.map((d) => [d.field, d.values]));
  assert.deepEqual(diff.get('attention'), ['exact', 'bert-lsh']);
  assert.deepEqual(diff.get('attentionParams.bands'), [null, 2]);
  assert.ok(!diff.has('name'), 'names are not settings');

  const csv = await api.call('runs.export', { runs: ['base'], format: 'csv' });
  assert.equal(csv.contentType, 'text/csv');
  assert.match(csv.content, /^run_id,run_name,key,step,value,time\r\n/);
  const json = await api.call('runs.export', { runs: ['lsh_50%'], format: 'json' });
  assert.equal(JSON.parse(json.content).runs[0].run.name, 'lsh_50%');

  const cancel = await api.call('runs.cancel', { run: 'base' });
  assert.equal(cancel.how, 'not-active');
  assert.deepEqual((await api.call('runs.rm', { runs: ['base'] })).removed.map((r) => r.name), ['base']);
  assert.equal((await api.call('runs.list', {})).total, 2);
}));

test('errors: codes and messages that name what is wrong', withApi(async (api) => {
  assert.deepEqual(await code(api.call('runs.show', { run: 'nope' })), { code: 'not-found', message: "no run matches 'nope' (give an id, a uuid or uuid prefix of 6+ hex digits, or a name)" });
  assert.equal((await code(api.call('runs.show', {} as never))).message, 'runs.show: run: Invalid input: expected string, received undefined');
  assert.equal((await code(api.call('no.such' as never, {} as never))).code, 'not-found');
  assert.match((await code(api.call('runs.resume', { run: 'baseline' }))).message, /has no checkpoint/);
  assert.equal((await code(api.call('datasets.show', { name: 'ghost' }))).code, 'not-found');
  assert.equal((await code(api.call('runs.start', { spec: { task: 'mlm', dataset: 'ghost', steps: 2 } }))).code, 'not-found');
}));

test('internal errors reach the log with their stack, the caller gets no stack', () => {
  const logs: string[] = [];
  const e = toApiError(new TypeError('cannot read properties of undefined'), (t) => logs.push(t), 'runs.list');
  assert.equal(e.code, 'internal');
  assert.doesNotMatch(e.message, /TypeError|at .*\.js/);
  assert.match(logs.join('\n'), /TypeError: cannot read properties of undefined\n\s+at /);
});
