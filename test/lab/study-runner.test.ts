// study-runner.test.ts: the study runner on tiny synthetic runs (hidden 16, 1 layer, sequence 16):
// a two-stage grid runs to its end with each second-stage run initialised from the first stage's
// checkpoint of the same variant and seed; a run that crashes is retried once, one that crashes
// twice fails and blocks its later stage; two runners on one study at once train every cell once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, storePath } from '../../src-main/store/index.js';
import type { LabStore } from '../../src-main/store/types.js';
import { forkLauncher, RunHost, type WorkerLauncher } from '../../src-main/training/host.js';
import { checkStudyShape, studyJson, type StudyDefinition } from '../../src-main/lab/study-def.js';
import { StudyRunner } from '../../src-main/lab/study-runner.js';
import { tempLab } from '../store/helpers.js';

const tinyStudy = (name: string, steps = 6): StudyDefinition =>
  checkStudyShape({
    name,
    seeds: 2,
    model: { hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxSeqLen: 16 },
    defaults: { steps, batchSize: 4, evalBatches: 1, warmupSteps: 1 },
    variants: ['exact', { key: 'lsh', attention: 'bert-lsh' }],
    stages: [
      { name: 'pre', task: 'mlm', dataset: 'synthetic:random' },
      { name: 'more', task: 'mlm', dataset: 'synthetic:random' },
    ],
  });

/** forkLauncher, but the worker of a run whose name `crash` picks is killed once it is ready. */
function crashingLauncher(crash: (runName: string) => boolean): WorkerLauncher {
  return () => {
    const h = forkLauncher();
    return {
      get pid() {
        return h.pid;
      },
      onMessage: (cb) => h.onMessage(cb),
      onExit: (cb) => h.onExit(cb),
      kill: (s) => h.kill(s),
      send(m) {
        h.send(m);
        if (m.type === 'start' && crash(m.spec.name ?? '')) h.onMessage((x) => void (x.type === 'ready' && h.kill('SIGKILL')));
      },
    };
  };
}

function finishedRunsOf(store: LabStore, study: string): number {
  return store.runs.list({ tag: `study:${study}`, status: 'finished' }).length;
}

test('a two-stage study runs to its end; stage 2 starts from stage 1 of the same variant and seed', async () => {
  const t = tempLab('lshlab-study-run-');
  const store = openStore(storePath(t.dir));
  try {
    const def = tinyStudy('two');
    const study = store.studies.create(def.name, studyJson(def));
    const host = new RunHost(store, t.dir, { threads: 1 });
    const starts: string[] = [];
    const r = await new StudyRunner({ store, dataDir: t.dir, host, study, def, events: { onCellStart: (e) => starts.push(`${e.cell.stage}/${e.cell.variant}/${e.cell.seed}`) } }).run();
    assert.deepEqual(r.tally, { total: 8, done: 8, running: 0, failed: 0, blocked: 0, todo: 0 });
    assert.deepEqual(starts.slice(0, 4), ['0/exact/1', '0/exact/2', '0/lsh/1', '0/lsh/2']);
    const cells = store.studies.cells(study.id);
    assert.equal(cells.length, 8);
    for (const c of cells.filter((x) => x.stage === 1)) {
      const prev = cells.find((p) => p.stage === 0 && p.variant === c.variant && p.seed === c.seed);
      const run = store.runs.get(c.runId as number);
      const ckpt = store.checkpoints.latest(prev?.runId as number);
      assert.ok(run && ckpt);
      assert.equal(run.seed, c.seed);
      assert.match(JSON.stringify(run.trainConfig['initFrom']), new RegExp(ckpt.path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), 'initFrom is the previous stage checkpoint');
    }
    // Running it again does nothing: every cell is done.
    const again = await new StudyRunner({ store, dataDir: t.dir, host, study, def }).run();
    assert.equal(again.tally.done, 8);
    assert.equal(store.runs.count({ tag: 'study:two' }), 8);
  } finally {
    store.close();
    t.cleanup();
  }
});

test('a crashed run is retried once; crashing twice fails the cell and blocks its next stage', async () => {
  const t = tempLab('lshlab-study-crash-');
  const store = openStore(storePath(t.dir));
  try {
    const def = tinyStudy('crashy');
    const study = store.studies.create(def.name, studyJson(def));
    let firstCrashed = false;
    const host = new RunHost(store, t.dir, {
      threads: 1,
      launcher: crashingLauncher((name) => {
        if (name === 'crashy.pre.exact.s1' && !firstCrashed) return (firstCrashed = true);
        return name === 'crashy.pre.lsh.s2';
      }),
    });
    const r = await new StudyRunner({ store, dataDir: t.dir, host, study, def }).run();
    assert.deepEqual(r.tally, { total: 8, done: 6, running: 0, failed: 1, blocked: 1, todo: 0 });
    const byCell = new Map(r.statuses.map((s) => [`${s.cell.stage}/${s.cell.variant}/${s.cell.seed}`, s]));
    assert.equal(byCell.get('0/exact/1')?.state, 'done');
    assert.equal(byCell.get('0/exact/1')?.row?.attempts, 2);
    assert.equal(byCell.get('0/lsh/2')?.state, 'failed');
    assert.match(byCell.get('0/lsh/2')?.reason ?? '', /crashed: training process killed by SIGKILL .*\(after 2 attempts\)/);
    assert.equal(byCell.get('1/lsh/2')?.state, 'blocked');
    assert.equal(store.runs.count({ tag: 'study:crashy', status: 'crashed' }), 3);
    assert.equal(finishedRunsOf(store, 'crashy'), 6);
    // A failed cell is not retried on a later run of the study.
    const again = await new StudyRunner({ store, dataDir: t.dir, host: new RunHost(store, t.dir, { threads: 1 }), study, def }).run();
    assert.equal(again.tally.failed, 1);
    assert.equal(store.runs.count({ tag: 'study:crashy' }), 9);
  } finally {
    store.close();
    t.cleanup();
  }
});

test('two runners on one study at once train every cell exactly once', async () => {
  const t = tempLab('lshlab-study-two-');
  const a = openStore(storePath(t.dir));
  const b = openStore(storePath(t.dir));
  try {
    const def = tinyStudy('shared', 40);
    const study = a.studies.create(def.name, studyJson(def));
    const starts = [0, 0];
    const run = (store: LabStore, i: number): Promise<unknown> =>
      new StudyRunner({ store, dataDir: t.dir, host: new RunHost(store, t.dir, { threads: 1 }), study, def, pollMs: 50, events: { onCellStart: () => void starts[i]++ } }).run();
    await Promise.all([run(a, 0), run(b, 1)]);
    assert.ok(starts[0]! > 0 && starts[1]! > 0, `both runners trained cells (${starts.join(' + ')})`);
    assert.equal(starts[0]! + starts[1]!, 8);
    const cells = a.studies.cells(study.id);
    assert.equal(cells.length, 8);
    assert.ok(cells.every((c) => c.runStatus === 'finished' && c.attempts === 1), JSON.stringify(cells));
    assert.equal(new Set(cells.map((c) => c.runId)).size, 8);
    assert.equal(a.runs.count({ tag: 'study:shared' }), 8, 'no run was started twice');
  } finally {
    a.close();
    b.close();
    t.cleanup();
  }
});
