// studies.test.ts: the studies store (schema v6): names unique and checked, a claim creates the
// cell row and applies the decision in one transaction, link sets the run, cells read the run's
// status, removing a run unlinks its cell (SET NULL) and removing a study removes its cells.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src-main/store/index.js';
import { newRun, tempLab } from './helpers.js';

test('studies: create, get, list, claim, link, cells, run removal, study removal', () => {
  const t = tempLab();
  const s = openStore(t.db);
  try {
    const st = s.studies.create('grid', { name: 'grid', stages: [] });
    assert.equal(s.studies.get('grid')?.id, st.id);
    assert.deepEqual(s.studies.get('grid')?.definition, { name: 'grid', stages: [] });
    assert.throws(() => s.studies.create('grid', {}), /a study named 'grid' already exists/);
    assert.throws(() => s.studies.create('no spaces', {}), /study name 'no spaces' must be/);
    assert.deepEqual(s.studies.list().map((x) => x.name), ['grid']);

    const key = { stage: 0, variant: 'exact', seed: '1' };
    const seen = s.studies.claim(st.id, key, (c) => ({ patch: { attempts: c.attempts + 1 }, result: { ...c } }));
    assert.equal(seen.attempts, 0, 'a fresh cell row');
    assert.equal(seen.runId, null);
    // Deciding without a patch writes nothing.
    assert.equal(s.studies.claim(st.id, key, (c) => ({ result: c.attempts })), 1);
    assert.throws(() => s.studies.claim(st.id, { ...key, seed: 'x' }, () => ({ result: 0 })), /study seed must be a decimal integer/);

    const run = s.runs.create(newRun({ status: 'running' }));
    const linked = s.studies.link(st.id, key, run.id);
    assert.equal(linked.runId, run.id);
    assert.equal(linked.runStatus, 'running');
    s.runs.update(run.id, { status: 'finished' });
    assert.equal(s.studies.cells(st.id)[0]?.runStatus, 'finished');
    assert.throws(() => s.studies.link(st.id, { ...key, seed: '2' }, run.id), /has no cell/);

    s.runs.remove(run.id);
    const [cell] = s.studies.cells(st.id);
    assert.equal(cell?.runId, null, 'a removed run unlinks its cell');
    assert.equal(cell?.attempts, 1);
    assert.equal(cell?.runStatus, null);

    assert.equal(s.studies.remove('grid'), true);
    assert.equal(s.studies.remove('grid'), false);
    assert.deepEqual(s.studies.cells(st.id), [], 'cells go with the study');
    assert.equal(s.integrityCheck(), 'ok');
  } finally {
    s.close();
    t.cleanup();
  }
});
