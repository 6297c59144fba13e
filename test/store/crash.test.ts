// A writer killed with SIGKILL in the middle of appending: the database must be intact and hold
// exactly the batches that committed, with summaries, chunks and lastStep agreeing with them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src-main/store/index.js';
import { startChild, tempLab, waitExit } from './helpers.js';

const BATCH = 1000;

test('SIGKILL mid-append leaves an intact database with whole batches only', async () => {
  const t = tempLab();
  try {
    // Batches of BATCH points over two keys, one step per pair, appended as fast as possible.
    const { child, lines } = await startChild(
      t.db,
      `
      const fs = require('node:fs');
      const s = openStore(file);
      const run = s.runs.create({ name: 'doomed', task: 'mlm', datasetName: 'x', modelConfig: {}, attention: 'exact',
        attentionParams: {}, trainConfig: {}, seed: '1', status: 'running' });
      let step = 0;
      for (let b = 0; ; b++) {
        const pts = [];
        for (let i = 0; i < ${BATCH}; i += 2, step++) {
          pts.push({ key: 'train/loss', step, value: Math.random() }, { key: 'train/lr', step, value: 0.001 });
        }
        s.metrics.append(run.id, pts);
        if (b === 30) fs.writeSync(1, 'run ' + run.id + '\\n');
      }`,
      /^run \d+$/,
    );
    // Let it run on into further batches, then kill it wherever it is.
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await waitExit(child);
    assert.equal(child.signalCode, 'SIGKILL');
    const runId = Number(lines.find((l) => l.startsWith('run '))!.slice(4));

    const s = openStore(t.db);
    try {
      assert.equal(s.integrityCheck(), 'ok');
      const loss = s.metrics.history(runId, 'train/loss');
      const lr = s.metrics.history(runId, 'train/lr');
      const total = loss.length + lr.length;
      assert.ok(total >= 31 * BATCH, `${total} points`);
      assert.equal(total % BATCH, 0, `${total} points is not a whole number of ${BATCH}-point batches`);
      assert.deepEqual(loss.map((p) => p.step), Array.from({ length: loss.length }, (_, i) => i));
      assert.equal(lr.length, loss.length);
      const sums = s.metrics.summaries(runId);
      assert.deepEqual(sums.map((x) => [x.key, x.count, x.lastStep]), [
        ['train/loss', loss.length, loss.length - 1],
        ['train/lr', lr.length, lr.length - 1],
      ]);
      const run = s.runs.get(runId)!;
      assert.equal(run.lastStep, loss.length - 1);
      assert.equal(s.metrics.series(runId, 'train/loss', 50).reduce((a, b) => a + b.count, 0), loss.length);
      assert.equal(s.runs.markCrashed(runId, 'killed in a test')?.status, 'crashed');
    } finally {
      s.close();
    }
  } finally {
    t.cleanup();
  }
});
