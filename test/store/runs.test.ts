// Datasets, runs, tags and the small record tables: CRUD, lookups, cascades, orphan recovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { openStore, RUN_PALETTE, type NewDataset } from '../../src-main/store/index.js';
import { newRun, tempLab, withStore } from './helpers.js';

const dataset = (over: Partial<NewDataset> = {}): NewDataset => ({
  name: 'wiki-103',
  kind: 'classification',
  source: '/data/wiki.csv',
  format: 'csv',
  dir: '/lab/datasets/wiki-103',
  tokenizer: 'wp-32k',
  numRecords: 1000,
  numTokens: 64_000,
  splits: { train: 900, validation: 100 },
  labelSet: ['neg', 'pos'],
  stats: { bytes: 12345, synthetic: false },
  sha256: 'f'.repeat(64),
  builtin: false,
  ...over,
});

test('datasets: insert, get, list, remove; runs keep the name when the dataset goes', () => {
  withStore((s) => {
    const d = s.datasets.insert(dataset());
    assert.equal(d.name, 'wiki-103');
    assert.deepEqual(d.labelSet, ['neg', 'pos']);
    assert.deepEqual(d.splits, { train: 900, validation: 100 });
    assert.equal(d.builtin, false);
    assert.ok(d.createdAt > 0);
    assert.deepEqual(s.datasets.get('wiki-103'), d);
    s.datasets.insert(dataset({ name: 'brown', kind: 'text', labelSet: [], builtin: true }));
    assert.deepEqual(s.datasets.list().map((x) => x.name), ['brown', 'wiki-103']);
    assert.throws(() => s.datasets.insert(dataset()), /already exists/);
    assert.throws(() => s.datasets.insert(dataset({ name: 'bad name!' })), /A-Z a-z 0-9/);
    assert.throws(() => s.datasets.insert(dataset({ name: 'x', kind: 'images' as never })), /kind/);

    const run = s.runs.create(newRun({ datasetName: 'wiki-103', datasetId: d.id }));
    assert.equal(s.datasets.remove('wiki-103'), true);
    assert.equal(s.datasets.remove('wiki-103'), false);
    assert.equal(s.datasets.get('wiki-103'), undefined);
    const after = s.runs.get(run.id)!;
    assert.equal(after.datasetId, null);
    assert.equal(after.datasetName, 'wiki-103');
  });
});

test('runs: create with defaults, get, update, notes, colours round-robin', () => {
  withStore((s) => {
    const r = s.runs.create(newRun({ name: 'baseline', notes: 'first', attentionParams: { bands: 4, kind: 'simhash' } }));
    assert.match(r.uuid, /^[0-9a-f]{32}$/);
    assert.equal(r.status, 'queued');
    assert.equal(r.notes, 'first');
    assert.deepEqual(r.tags, []);
    assert.deepEqual(r.attentionParams, { bands: 4, kind: 'simhash' });
    assert.deepEqual(r.modelConfig, { hiddenSize: 128, numHiddenLayers: 2 });
    assert.equal(r.lastStep, 0);
    assert.equal(r.startedAt, null);
    assert.equal(r.color, RUN_PALETTE[0]);
    const ids = [r.id];
    for (let i = 0; i < 11; i++) ids.push(s.runs.create(newRun({ name: `r${i}` })).id);
    for (const id of ids) assert.equal(s.runs.get(id)!.color, RUN_PALETTE[(id - 1) % RUN_PALETTE.length]);
    assert.equal(new Set(RUN_PALETTE).size, RUN_PALETTE.length);
    assert.equal(s.runs.create(newRun({ color: '#123456' })).color, '#123456');

    const u = s.runs.update(r.id, { status: 'running', startedAt: 1000, pid: 4242, notes: 'edited', name: 'baseline-2' });
    assert.equal(u.status, 'running');
    assert.equal(u.startedAt, 1000);
    assert.equal(u.pid, 4242);
    assert.equal(u.notes, 'edited');
    assert.equal(u.name, 'baseline-2');
    const v = s.runs.update(r.id, { status: 'finished', endedAt: 2000, pid: null, error: null });
    assert.equal(v.pid, null);
    assert.equal(v.endedAt, 2000);
    assert.deepEqual(s.runs.update(r.id, {}), v);
    assert.throws(() => s.runs.update(r.id, { status: 'exploded' as never }), /not one of/);
    assert.throws(() => s.runs.update(9999, { notes: 'x' }), /no run with id 9999/);
    assert.throws(() => s.runs.create(newRun({ seed: '0x10' })), /decimal/);
    assert.throws(() => s.runs.create(newRun({ name: '' })), /non-empty/);
    assert.equal(s.runs.get(424242), undefined);
  });
});

test('runs: tags, list filters, count, limit/offset newest first', () => {
  withStore((s) => {
    const a = s.runs.create(newRun({ name: 'a', tags: ['paper', 'b-side'], status: 'finished' }));
    const b = s.runs.create(newRun({ name: 'b', attention: 'bert-lsh', status: 'running' }));
    s.runs.create(newRun({ name: 'c', attention: 'bert-lsh', tags: ['paper'], status: 'finished' }));
    assert.deepEqual(a.tags, ['b-side', 'paper']);
    s.runs.addTags(b.id, ['wip', 'wip', 'with, comma and space']);
    assert.deepEqual(s.runs.get(b.id)!.tags, ['wip', 'with, comma and space']);
    s.runs.removeTags(b.id, ['wip', 'absent']);
    assert.deepEqual(s.runs.get(b.id)!.tags, ['with, comma and space']);
    assert.throws(() => s.runs.addTags(b.id, ['bad\ttag']), /control characters/);
    assert.throws(() => s.runs.addTags(999, ['x']), /no run with id 999/);

    assert.deepEqual(s.runs.list().map((r) => r.name), ['c', 'b', 'a']);
    assert.deepEqual(s.runs.list({ tag: 'paper' }).map((r) => r.name), ['c', 'a']);
    assert.deepEqual(s.runs.list({ status: 'finished', attention: 'bert-lsh' }).map((r) => r.name), ['c']);
    assert.deepEqual(s.runs.list({ limit: 1, offset: 1 }).map((r) => r.name), ['b']);
    assert.equal(s.runs.count(), 3);
    assert.equal(s.runs.count({ tag: 'paper' }), 2);
    assert.equal(s.runs.count({ status: 'running' }), 1);
    assert.deepEqual(s.runs.list({ status: 'crashed' }), []);
  });
});

test('runs.resolve: id, uuid, uuid prefix (>= 6), name (newest wins), ambiguity', () => {
  const t = tempLab();
  try {
    let s = openStore(t.db);
    const x1 = s.runs.create(newRun({ name: 'x' }));
    const x2 = s.runs.create(newRun({ name: 'x' }));
    const y = s.runs.create(newRun({ name: 'y' }));
    assert.equal(s.runs.resolve(String(y.id))?.id, y.id);
    assert.equal(s.runs.resolve(` ${y.id} `)?.id, y.id);
    assert.equal(s.runs.resolve(y.uuid)?.id, y.id);
    assert.equal(s.runs.resolve(y.uuid.slice(0, 6).toUpperCase())?.id, y.id);
    assert.equal(s.runs.resolve('x')?.id, x2.id);
    assert.equal(s.runs.resolve('nope'), undefined);
    assert.equal(s.runs.resolve(y.uuid.slice(0, 5)), undefined, 'a 5-digit prefix is not looked up');
    s.close();

    const raw = new Database(t.db);
    raw.prepare('UPDATE runs SET uuid = ? WHERE id = ?').run('abcdef00000000000000000000000001', x1.id);
    raw.prepare('UPDATE runs SET uuid = ? WHERE id = ?').run('abcdef00000000000000000000000002', x2.id);
    raw.close();
    s = openStore(t.db);
    assert.throws(() => s.runs.resolve('abcdef'), /ambiguous/);
    assert.equal(s.runs.resolve('abcdef00000000000000000000000001')?.id, x1.id);
    assert.throws(() => s.runs.resolve('abcdef0000000000000000000000000'), /ambiguous/, '31 digits still match both');
    // An exact name beats an ambiguous prefix.
    const named = s.runs.create(newRun({ name: 'abcdef' }));
    assert.equal(s.runs.resolve('abcdef')?.id, named.id);
    s.close();
  } finally {
    t.cleanup();
  }
});

test('runs.remove cascades to tags, metrics, summaries, evaluations, checkpoints, benchmarks', () => {
  withStore((s, file) => {
    const keep = s.runs.create(newRun({ name: 'keep', tags: ['t'] }));
    const r = s.runs.create(newRun({ name: 'gone', tags: ['t', 'u'] }));
    for (const id of [keep.id, r.id]) {
      s.metrics.append(id, Array.from({ length: 100 }, (_, i) => ({ key: 'train/loss', step: i, value: i })));
      s.evaluations.add(id, 50, 'validation', { loss: 1 });
      s.checkpoints.add({ runId: id, step: 50, path: `/c/${id}`, bytes: 10 });
      s.benchmarks.add({ runId: id, kind: 'train', config: {}, result: { tps: 1 }, environmentId: null });
    }
    assert.equal(s.runs.remove(r.id), true);
    assert.equal(s.runs.remove(r.id), false);
    assert.equal(s.runs.get(r.id), undefined);
    assert.deepEqual(s.metrics.history(r.id, 'train/loss'), []);
    assert.deepEqual(s.metrics.summaries(r.id), []);
    assert.deepEqual(s.evaluations.list(r.id), []);
    assert.deepEqual(s.checkpoints.list(r.id), []);
    assert.deepEqual(s.benchmarks.list({ runId: r.id }), []);
    s.close();
    const raw = new Database(file, { readonly: true });
    for (const table of ['run_tags', 'metric_chunks', 'metric_summary', 'evaluations', 'checkpoints', 'benchmarks']) {
      assert.equal(raw.prepare(`SELECT count(*) FROM ${table} WHERE run_id = ?`).pluck().get(r.id), 0, table);
      assert.ok((raw.prepare(`SELECT count(*) FROM ${table} WHERE run_id = ?`).pluck().get(keep.id) as number) > 0, table);
    }
    raw.close();
  });
});

test('markCrashed: only an active run becomes crashed, with the reason; a final status is kept', () => {
  withStore((s) => {
    const running = s.runs.create(newRun({ name: 'running', status: 'running' }));
    s.runs.update(running.id, { pid: 999_999, startedAt: 5 });
    const queued = s.runs.create(newRun({ name: 'queued' }));
    const done = s.runs.create(newRun({ name: 'done', status: 'finished' }));
    const before = Date.now();
    for (const id of [running.id, queued.id]) {
      const r = s.runs.markCrashed(id, 'host died')!;
      assert.equal(r.status, 'crashed');
      assert.equal(r.error, 'host died');
      assert.equal(r.pid, null);
      assert.ok(r.endedAt! >= before);
    }
    assert.equal(s.runs.markCrashed(done.id, 'host died'), undefined);
    assert.equal(s.runs.get(done.id)!.status, 'finished');
    assert.equal(s.runs.get(done.id)!.error, null);
    assert.equal(s.runs.markCrashed(running.id, 'again'), undefined, 'already crashed');
    assert.deepEqual(s.runs.active().map((r) => r.id), []);
  });
});

test('requestCancel: recorded once for an active run, ignored for an ended one; cancelRequested lists them', () => {
  withStore((s) => {
    const a = s.runs.create(newRun({ name: 'a', status: 'running' }));
    const b = s.runs.create(newRun({ name: 'b', status: 'running' }));
    const done = s.runs.create(newRun({ name: 'done', status: 'finished' }));
    assert.deepEqual(s.runs.active().map((r) => r.id), [a.id, b.id]);
    assert.equal(a.cancelRequestedAt, null);
    const first = s.runs.requestCancel(a.id).cancelRequestedAt!;
    assert.ok(first > 0);
    assert.equal(s.runs.requestCancel(a.id).cancelRequestedAt, first, 'the first request time is kept');
    assert.equal(s.runs.requestCancel(done.id).cancelRequestedAt, null);
    assert.deepEqual(s.runs.cancelRequested([a.id, b.id, done.id]), [a.id]);
    assert.deepEqual(s.runs.cancelRequested([]), []);
    assert.throws(() => s.runs.requestCancel(12345), /no run with id 12345/);
  });
});

test('create: uuid, device, owner and an even share of the cores among live runs of the device', () => {
  withStore((s) => {
    const uuid = 'ab'.repeat(16);
    const first = s.runs.create(newRun({ uuid, status: 'running', shareCores: 8, owner: 'lshlab train (pid 1 on x)' }));
    assert.equal(first.uuid, uuid);
    assert.equal(first.device, 'cpu');
    assert.equal(first.threads, 8);
    assert.equal(first.owner, 'lshlab train (pid 1 on x)');
    assert.equal(s.runs.create(newRun({ status: 'running', shareCores: 8 })).threads, 4);
    assert.equal(s.runs.create(newRun({ status: 'running', shareCores: 8 })).threads, 2);
    assert.equal(s.runs.create(newRun({ status: 'running', shareCores: 8, device: 'cuda:0' })).threads, 8, 'other device');
    assert.equal(s.runs.create(newRun({ status: 'running', threads: 3, shareCores: 8 })).threads, 3, 'explicit wins');
    assert.equal(s.runs.create(newRun({ status: 'running' })).threads, null);
    assert.throws(() => s.runs.create(newRun({ uuid: 'xyz' })), /uuid must be 32 lowercase hex digits/);
  });
});

test('evaluations, benchmarks, environments, checkpoints', () => {
  withStore((s) => {
    const r = s.runs.create(newRun());
    s.evaluations.add(r.id, 200, 'validation', { loss: NaN, accuracy: 0.5, perplexity: Infinity, delta: -Infinity });
    s.evaluations.add(r.id, 100, 'validation', { loss: 3 });
    s.evaluations.add(r.id, 100, 'test', { loss: 4 });
    const ev = s.evaluations.list(r.id);
    assert.deepEqual(ev.map((e) => [e.step, e.split]), [[100, 'test'], [100, 'validation'], [200, 'validation']]);
    assert.ok(Number.isNaN(ev[2].metrics.loss));
    assert.equal(ev[2].metrics.perplexity, Infinity);
    assert.equal(ev[2].metrics.delta, -Infinity);
    assert.equal(ev[2].metrics.accuracy, 0.5);
    s.evaluations.add(r.id, 100, 'test', { loss: 2 });
    assert.equal(s.evaluations.list(r.id)[0].metrics.loss, 2, 'same step and split: replaced');

    const env = { node: 'v20', cpu: { model: 'EPYC', cores: 2 }, gemm: 'avx2' };
    const e1 = s.environments.record(env);
    const e2 = s.environments.record({ gemm: 'avx2', cpu: { cores: 2, model: 'EPYC' }, node: 'v20' });
    assert.equal(e1, e2, 'same content, key order aside: one row');
    assert.notEqual(s.environments.record({ ...env, node: 'v22' }), e1);
    assert.deepEqual(s.environments.get(e1), { cpu: { cores: 2, model: 'EPYC' }, gemm: 'avx2', node: 'v20' });
    assert.equal(s.environments.get(12345), undefined);

    const b1 = s.benchmarks.add({ runId: null, kind: 'attention/paper-table1', config: { seq: 128 }, result: { ms: 1.5 }, environmentId: e1 });
    const b2 = s.benchmarks.add({ runId: r.id, kind: 'train', config: {}, result: { tps: 1000 }, environmentId: null });
    assert.equal(b1.kind, 'attention/paper-table1');
    assert.deepEqual(b1.result, { ms: 1.5 });
    assert.deepEqual(s.benchmarks.list().map((b) => b.id), [b2.id, b1.id]);
    assert.deepEqual(s.benchmarks.list({ kind: 'train' }).map((b) => b.id), [b2.id]);
    assert.deepEqual(s.benchmarks.list({ runId: r.id }).map((b) => b.id), [b2.id]);

    assert.equal(s.checkpoints.latest(r.id), undefined);
    s.checkpoints.add({ runId: r.id, step: 200, path: '/c/200', bytes: 2 });
    s.checkpoints.add({ runId: r.id, step: 100, path: '/c/100', bytes: 1 });
    assert.deepEqual(s.checkpoints.list(r.id).map((c) => c.step), [100, 200]);
    assert.equal(s.checkpoints.latest(r.id)?.path, '/c/200');
    assert.ok(s.checkpoints.latest(r.id)!.createdAt > 0);
  });
});
