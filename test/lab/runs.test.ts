/**
 * runs.test.ts: the run history service (lab/runs.ts) on the real store in a temp data dir: list
 * filters and order, show, tag / untag / notes / rename round trips, rm (refuses a running run
 * unless forced, deletes the run directory, checks every ref first), the comparison built from the
 * store, exports (full unsampled history, NaN kept) and unknown-ref errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  compareRuns,
  exportJson,
  exportRuns,
  listRuns,
  metricHistoryCsv,
  removeRuns,
  renameRun,
  resolveRun,
  runDir,
  runDurationS,
  RunNotFoundError,
  RunRefusedError,
  runsCsv,
  setRunNotes,
  showRun,
  tagRun,
  untagRun,
} from '../../src-main/lab/runs.js';
import { makeLab, T0 } from './runs-fixture.js';

test('listRuns: newest first, filters by status, tag, attention, limit; last train loss and duration', () => {
  const lab = makeLab();
  try {
    const all = listRuns(lab.store, {}, T0 + 30_000);
    assert.deepEqual(all.map((i) => i.run.name), ['live', 'lsh_50%', 'baseline']);
    assert.deepEqual(all.map((i) => i.lastTrainLoss), [0.7, 3.25, 5]);
    assert.deepEqual(all.map((i) => i.durationS), [30, 50, 100]);
    assert.deepEqual(listRuns(lab.store, { status: 'finished' }).map((i) => i.run.name), ['lsh_50%', 'baseline']);
    assert.deepEqual(listRuns(lab.store, { tag: 'paper' }).map((i) => i.run.name), ['live', 'baseline']);
    assert.deepEqual(listRuns(lab.store, { attention: 'bert-lsh' }).map((i) => i.run.name), ['lsh_50%']);
    assert.deepEqual(listRuns(lab.store, { limit: 1 }).map((i) => i.run.name), ['live']);
    assert.deepEqual(listRuns(lab.store, { tag: 'nope' }), []);
  } finally {
    lab.cleanup();
  }
});

test('showRun: row, sorted summaries, evaluations, checkpoints, environment', () => {
  const lab = makeLab();
  try {
    const d = showRun(lab.store, 'baseline');
    assert.equal(d.run.id, lab.baseline.id);
    assert.equal(d.durationS, 100);
    assert.deepEqual(d.summaries.map((s) => [s.key, s.count, s.last, s.lastStep]), [
      ['train/loss', 200, 5, 200],
      ['train/step_s', 200, 0.5, 200],
    ]);
    assert.deepEqual(d.evaluations.map((e) => [e.step, e.split]), [[100, 'validation'], [200, 'validation']]);
    assert.deepEqual(d.checkpoints, []);
    assert.deepEqual(d.environment, { node: 'v20.0.0', cpu: 'test cpu', threads: 2 });
    const l = showRun(lab.store, String(lab.lsh.id));
    assert.equal(l.environment, null);
    assert.deepEqual(l.checkpoints.map((c) => [c.step, c.bytes]), [[100, 1]]);
    assert.equal(showRun(lab.store, lab.live.uuid.slice(0, 8)).run.name, 'live');
  } finally {
    lab.cleanup();
  }
});

test('unknown refs are errors naming the ref', () => {
  const lab = makeLab();
  try {
    assert.throws(() => resolveRun(lab.store, 'no-such-run'), (e: unknown) => e instanceof RunNotFoundError && /'no-such-run'/.test(e.message));
    assert.throws(() => showRun(lab.store, '999'), /no run matches '999'/);
    assert.throws(() => compareRuns(lab.store, ['baseline', 'ghost']), /no run matches 'ghost'/);
    assert.throws(() => tagRun(lab.store, 'ghost', ['x']), /'ghost'/);
  } finally {
    lab.cleanup();
  }
});

test('tag / untag / note / rename round trips', () => {
  const lab = makeLab();
  try {
    assert.deepEqual([...tagRun(lab.store, 'baseline', ['table2', 'paper', 'table2']).tags].sort(), ['paper', 'table2']);
    assert.deepEqual([...(lab.store.runs.get(lab.baseline.id)?.tags ?? [])].sort(), ['paper', 'table2']);
    assert.deepEqual(untagRun(lab.store, 'baseline', ['paper', 'absent']).tags, ['table2']);
    assert.throws(() => tagRun(lab.store, 'baseline', ['has space']), RunRefusedError);
    assert.throws(() => tagRun(lab.store, 'baseline', []), RunRefusedError);

    assert.equal(setRunNotes(lab.store, 'baseline', 'bands 2, table 64').notes, 'bands 2, table 64');
    assert.equal(lab.store.runs.get(lab.baseline.id)?.notes, 'bands 2, table 64');
    assert.equal(setRunNotes(lab.store, 'baseline', '').notes, '');

    assert.equal(renameRun(lab.store, 'baseline', '  base-2 ').name, 'base-2');
    assert.equal(resolveRun(lab.store, 'base-2').id, lab.baseline.id);
    assert.throws(() => renameRun(lab.store, 'base-2', '123'), /all digits/);
    assert.throws(() => renameRun(lab.store, 'base-2', '   '), RunRefusedError);
  } finally {
    lab.cleanup();
  }
});

test('removeRuns: refuses a running run unless forced; deletes rows and the run directory', () => {
  const lab = makeLab();
  try {
    const lshDir = runDir(lab.dir, lab.lsh);
    assert.equal(lshDir, path.join(lab.dir, 'runs', lab.lsh.uuid));
    assert.ok(fs.existsSync(lshDir));
    // One running run among the refs: nothing is removed.
    assert.throws(
      () => removeRuns(lab.store, lab.dir, ['lsh_50%', 'live']),
      (e: unknown) => e instanceof RunRefusedError && /'live' \(id \d+, pid 4242\)/.test(e.message) && /--force/.test(e.message),
    );
    // An unknown ref among them: nothing is removed either.
    assert.throws(() => removeRuns(lab.store, lab.dir, ['lsh_50%', 'ghost']), RunNotFoundError);
    assert.equal(lab.store.runs.count(), 3);
    assert.ok(fs.existsSync(lshDir));

    const removed = removeRuns(lab.store, lab.dir, ['lsh_50%', String(lab.lsh.id)]);
    assert.deepEqual(removed.map((r) => [r.run.id, r.dirRemoved]), [[lab.lsh.id, lshDir]]);
    assert.equal(lab.store.runs.get(lab.lsh.id), undefined);
    assert.equal(fs.existsSync(lshDir), false);
    assert.deepEqual(lab.store.evaluations.list(lab.lsh.id), []);

    const forced = removeRuns(lab.store, lab.dir, ['live'], { force: true });
    assert.deepEqual(forced.map((r) => [r.run.name, r.dirRemoved]), [['live', null]]);
    assert.deepEqual(lab.store.runs.list().map((r) => r.name), ['baseline']);
  } finally {
    lab.cleanup();
  }
});

test('compareRuns reads the store: validation eval, fallback split, runtime, rates, attention rows', () => {
  const lab = makeLab();
  try {
    const c = compareRuns(lab.store, ['baseline', 'lsh_50%', 'baseline']);
    assert.deepEqual(c.columns.map((col) => col.header), ['baseline (exact)', 'lsh_50% (bert-lsh)']);
    const row = (k: string): Array<number | null> => (c.rows.find((r) => r.key === k) as { values: Array<number | null> }).values;
    assert.deepEqual(row('train_loss'), [5, 3.25]);
    assert.deepEqual(row('eval_loss'), [2, 1]);
    assert.deepEqual(row('accuracy'), [0.5, 0.75]);
    assert.deepEqual(row('runtime_s'), [100, 50]);
    assert.deepEqual(row('samples_per_s'), [64, null]);
    assert.deepEqual(row('steps_per_s'), [2, 2]);
    assert.deepEqual(row('dot_products'), [null, 1234]);
    assert.deepEqual(row('density'), [null, 0.125]);
    assert.deepEqual(c.footnotes, [
      "lsh_50% (bert-lsh): evaluation rows from split 'test' at step 100 (no 'validation' evaluation)",
      'lsh_50% (bert-lsh): perplexity = exp(evaluation loss) (the evaluation recorded none)',
    ]);
    // Without an end time, runtime is the sum of train/step_s (200 x 0.5 s).
    lab.store.runs.update(lab.baseline.id, { endedAt: null, status: 'failed' });
    const c2 = compareRuns(lab.store, ['baseline']);
    assert.deepEqual((c2.rows.find((r) => r.key === 'runtime_s') as { values: unknown[] }).values, [100]);
    assert.equal(c2.columns[0]?.runtimeSource, 'step_s');
  } finally {
    lab.cleanup();
  }
});

test('exports: JSON with summaries and evaluations (NaN kept), full history unsampled, runs CSV', () => {
  const lab = makeLab();
  try {
    const plain = exportRuns(lab.store, ['baseline']);
    assert.equal(plain[0]?.metrics, undefined);
    const full = exportRuns(lab.store, ['baseline', 'lsh_50%'], { metrics: true });
    assert.equal(full[0]?.metrics?.['train/loss']?.length, 200);
    assert.deepEqual(Object.keys(full[1]?.metrics ?? {}), ['attn/density', 'attn/dot_products', 'train/loss']);
    const doc = JSON.parse(exportJson(full, 5)) as {
      format: string;
      version: number;
      exportedAt: number;
      runs: Array<{ run: { name: string }; summaries: unknown[]; evaluations: unknown[]; metrics: Record<string, Array<{ value: unknown }>> }>;
    };
    assert.equal(doc.format, 'lshlab-runs');
    assert.equal(doc.version, 1);
    assert.equal(doc.exportedAt, 5);
    assert.deepEqual(doc.runs.map((r) => r.run.name), ['baseline', 'lsh_50%']);
    assert.deepEqual(doc.runs[1]?.metrics['train/loss']?.map((p) => p.value), ['NaN', 3.25]);
    assert.equal(doc.runs[0]?.evaluations.length, 2);

    const csv = [...metricHistoryCsv(lab.store, [lab.baseline, lab.lsh])].join('');
    const lines = csv.split('\r\n');
    assert.equal(lines[0], 'run_id,run_name,key,step,value,time');
    assert.equal(lines.length, 1 + 400 + 4 + 1); // header, every point, trailing ''
    assert.equal(lines[1], `${lab.baseline.id},baseline,train/loss,1,9.975,${T0 + 500}`);
    assert.ok(lines.includes(`${lab.lsh.id},lsh_50%,train/loss,99,NaN,${T0 + 1}`));

    const runs = runsCsv(lab.store, [lab.baseline, lab.live], T0 + 10_000).split('\r\n');
    assert.equal(runs[0], 'id,uuid,name,status,task,attention,dataset,steps,last_train_loss,created_at,started_at,ended_at,duration_s,tags,notes');
    assert.equal(
      runs[1],
      `${lab.baseline.id},${lab.baseline.uuid},baseline,finished,mlm,exact,wiki,200,5,${lab.baseline.createdAt},${T0},${T0 + 100_000},100,paper,`,
    );
    assert.equal(runs[2], `${lab.live.id},${lab.live.uuid},live,running,classification,exact,wiki,10,0.7,${lab.live.createdAt},${T0},,10,paper;wip,`);
  } finally {
    lab.cleanup();
  }
});

test('runDurationS and runDir', () => {
  const lab = makeLab();
  try {
    assert.equal(runDurationS(lab.live, T0 + 1500), 1.5);
    assert.equal(runDurationS({ ...lab.live, startedAt: null }), null);
    assert.equal(runDurationS({ ...lab.baseline, endedAt: null, status: 'crashed' }), null);
    assert.throws(() => runDir(lab.dir, { uuid: '../../etc' }), /32 hex digits/);
  } finally {
    lab.cleanup();
  }
});
