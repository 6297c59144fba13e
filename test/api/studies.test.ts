/**
 * studies.test.ts: the read-only study operations of createLabApi on a tiny study (hidden 16, one
 * layer, sequence 16; one stage, two variants, two seeds) run to its end: studies.list counts,
 * studies.show cells with their runs, studies.report's structured tables (the numbers and bold
 * flags of lab/study-report.ts) and its text exports, and the errors (unknown study, bad name).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLabApi } from '../../src-main/api/lab-api.js';
import { ApiError } from '../../src-main/api/contract.js';
import { openStore, storePath } from '../../src-main/store/index.js';
import { RunHost } from '../../src-main/training/host.js';
import { checkStudyShape, studyJson } from '../../src-main/lab/study-def.js';
import { buildStudyReport } from '../../src-main/lab/study-report.js';
import { renderStudyMarkdown } from '../../src-main/lab/study-report-render.js';
import { StudyRunner } from '../../src-main/lab/study-runner.js';
import { tempLab } from '../store/helpers.js';

const tiny = checkStudyShape({
  name: 'tiny',
  seeds: 2,
  model: { hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxSeqLen: 16 },
  defaults: { steps: 4, batchSize: 4, evalBatches: 1, warmupSteps: 1 },
  variants: ['exact', { key: 'lsh', attention: 'bert-lsh' }],
  stages: [{ name: 'pre', task: 'mlm', dataset: 'synthetic:random' }],
});

async function code(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return { code: e.code, message: e.message };
  }
  assert.fail('expected an ApiError');
}

test('studies.list, studies.show and studies.report on a tiny study run to its end', { timeout: 120_000 }, async () => {
  const t = tempLab('lshlab-api-study-');
  const store = openStore(storePath(t.dir));
  let api: ReturnType<typeof createLabApi> | undefined;
  try {
    const study = store.studies.create(tiny.name, studyJson(tiny));
    // Another study, never run: every cell pending.
    const later = checkStudyShape({ ...studyJson(tiny), name: 'later' });
    store.studies.create(later.name, studyJson(later));
    const host = new RunHost(store, t.dir, { threads: 1 });
    const r = await new StudyRunner({ store, dataDir: t.dir, host, study, def: tiny }).run();
    assert.equal(r.tally.done, 4);

    api = createLabApi({ dataDir: t.dir, log: () => undefined });
    const list = await api.call('studies.list', {});
    assert.deepEqual(list.map((s) => s.name), ['tiny', 'later']);
    const [a, b] = list;
    assert.deepEqual(a?.counts, { total: 4, done: 4, running: 0, failed: 0, blocked: 0, pending: 0 });
    assert.deepEqual(b?.counts, { total: 4, done: 0, running: 0, failed: 0, blocked: 0, pending: 4 });
    assert.deepEqual(a?.variants.map((v) => `${v.key}:${v.attention}`), ['exact:exact', 'lsh:bert-lsh']);
    assert.deepEqual(a?.seeds, ['1', '2']);
    assert.deepEqual(a?.stages, [{ stage: 1, name: 'pre', task: 'mlm', dataset: 'synthetic:random', init: 'none' }]);
    assert.equal(typeof a?.createdAt, 'number');

    const show = await api.call('studies.show', { name: 'tiny' });
    assert.deepEqual(show.definition, studyJson(tiny));
    assert.equal(show.cells.length, 4);
    const runs = store.runs.list({ tag: 'study:tiny' });
    for (const c of show.cells) {
      assert.equal(c.state, 'done');
      assert.equal(c.stage, 1);
      assert.equal(c.stageName, 'pre');
      assert.equal(c.attempts, 1);
      const run = runs.find((x) => x.id === c.runId);
      assert.ok(run, `cell ${c.variant}/${c.seed} links a run of the study`);
      assert.equal(run.seed, c.seed);
    }
    assert.deepEqual(show.cells.map((c) => `${c.variant}/${c.seed}`), ['exact/1', 'exact/2', 'lsh/1', 'lsh/2']);
    const pending = await api.call('studies.show', { name: 'later' });
    assert.ok(pending.cells.every((c) => c.state === 'pending' && c.runId === null));

    const rep = await api.call('studies.report', { name: 'tiny' });
    const want = buildStudyReport(store, study.id, tiny);
    assert.equal(rep.study, 'tiny');
    assert.deepEqual(rep.counts, a?.counts);
    assert.equal(rep.tables.length, 1);
    const tab = rep.tables[0]!;
    const wt = want.tables[0]!;
    assert.equal(tab.stage, 1);
    assert.equal(tab.title, wt.title);
    assert.deepEqual(tab.variants.map((v) => [v.key, v.seeds.length, v.runIds.length]), [['exact', 2, 2], ['lsh', 2, 2]]);
    assert.deepEqual(tab.rows.map((x) => x.key), wt.rows.map((x) => x.key));
    assert.ok(tab.rows.some((x) => x.key === 'train_loss') && tab.rows.some((x) => x.key === 'collisions_mean'));
    for (const [i, row] of tab.rows.entries()) {
      const w = wt.rows[i]!;
      for (const [j, c] of row.cells.entries()) {
        const s = w.cells[j]!;
        assert.equal(c.variant, s.variant);
        assert.equal(c.bold, s.bold, `${row.key} ${c.variant} bold`);
        assert.equal(c.n, s.stats.n);
        assert.equal(c.mean, s.stats.mean);
        assert.equal(c.std, s.stats.std);
        assert.equal(c.ciLow, s.stats.ciLow);
        assert.equal(c.ciHigh, s.stats.ciHigh);
        if (c.mean !== null) assert.equal(c.formatted.mean, w.format(c.mean));
      }
    }
    const loss = tab.rows.find((x) => x.key === 'train_loss')!;
    for (const c of loss.cells) {
      assert.equal(c.n, 2);
      assert.ok(c.ciLow !== null && c.ciHigh !== null && c.ciLow <= (c.mean as number) && (c.mean as number) <= c.ciHigh);
    }
    // exact records no collisions: '-' (null), not 0.
    assert.equal(tab.rows.find((x) => x.key === 'collisions_mean')!.cells[0]!.mean, null);
    assert.equal(rep.rendered.markdown, renderStudyMarkdown(want));
    assert.match(rep.rendered.csv, /^stage,stage_name,task,dataset,metric/);
    assert.match(rep.rendered.latex, /\\toprule|\\begin\{tabular\}/);
    assert.match(rep.rendered.text, /Study tiny: 4 of 4 runs done/);
    assert.match(rep.boldRule, /overlaps no other/);

    const missing = await code(api.call('studies.show', { name: 'nope' }));
    assert.equal(missing.code, 'not-found');
    assert.match(missing.message, /no study 'nope'.*tiny, later/);
    assert.equal((await code(api.call('studies.report', { name: 'nope' }))).code, 'not-found');
    assert.equal((await code(api.call('studies.show', { name: 'a b/c' } as never))).code, 'bad-request');
  } finally {
    await api?.close();
    store.close();
    t.cleanup();
  }
});

test('studies.list is empty in a lab without studies', async () => {
  const t = tempLab('lshlab-api-study-empty-');
  const api = createLabApi({ dataDir: t.dir, log: () => undefined });
  try {
    assert.deepEqual(await api.call('studies.list', {}), []);
  } finally {
    await api.close();
    t.cleanup();
  }
});
