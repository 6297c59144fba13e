// study-state.test.ts: the retry policy on cell rows alone: interrupted runs (cancelled, or their
// host died) are redone without counting, a crash or failure is retried once, a divergence is
// final, and a later stage of a failed cell is blocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StudyCellRow } from '../../src-main/store/types.js';
import { ORPHAN_REASON } from '../../src-main/training/run-owner.js';
import { checkStudyShape } from '../../src-main/lab/study-def.js';
import { cellStatuses, decideClaim, tally } from '../../src-main/lab/study-state.js';

const row = (over: Partial<StudyCellRow>): StudyCellRow => ({
  studyId: 1, stage: 0, variant: 'exact', seed: '1', runId: null, attempts: 0, updatedAt: 0, runStatus: null, runError: null, ...over,
});

test('decideClaim: start, skip, retry once, refund interruptions, divergence is final', () => {
  assert.deepEqual(decideClaim(row({})), { patch: { attempts: 1, runId: null }, result: { kind: 'start', attempt: 1 } });
  assert.deepEqual(decideClaim(row({ runId: 3, attempts: 1, runStatus: 'finished' })).result, { kind: 'done', runId: 3 });
  assert.deepEqual(decideClaim(row({ runId: 3, attempts: 1, runStatus: 'running' })).result, { kind: 'busy' });
  const crashed = { runId: 3, runStatus: 'crashed' as const, runError: 'training process killed by SIGSEGV after step 4' };
  assert.deepEqual(decideClaim(row({ ...crashed, attempts: 1 })).result, { kind: 'start', attempt: 2 });
  assert.equal(decideClaim(row({ ...crashed, attempts: 2 })).result.kind, 'failed');
  assert.equal(decideClaim(row({ runId: 3, attempts: 1, runStatus: 'failed', runError: 'boom' })).result.kind, 'start');
  // The study process was killed (its runs orphaned) or the run was cancelled: not an attempt.
  assert.deepEqual(decideClaim(row({ runId: 3, attempts: 2, runStatus: 'crashed', runError: ORPHAN_REASON })).result, { kind: 'start', attempt: 2 });
  assert.deepEqual(decideClaim(row({ runId: 3, attempts: 1, runStatus: 'cancelled' })).result, { kind: 'start', attempt: 1 });
  assert.deepEqual(decideClaim(row({ runId: 3, attempts: 1, runStatus: 'diverged', runError: 'loss is NaN at step 9' })).result, { kind: 'failed', reason: 'diverged: loss is NaN at step 9' });
  // Claimed, but the process died before the run row was linked: that start counts.
  assert.deepEqual(decideClaim(row({ attempts: 1 })).result, { kind: 'start', attempt: 2 });
});

test('cellStatuses: a failed cell blocks the later stages of its variant and seed only', () => {
  const def = checkStudyShape({
    name: 's', seeds: 2, variants: ['exact'],
    stages: [{ task: 'mlm', dataset: 'a', steps: 1 }, { task: 'classification', dataset: 'b', steps: 1 }, { task: 'qa', dataset: 'c', steps: 1, init: 'none' }],
  });
  const rows = [
    row({ seed: '1', runId: 1, attempts: 1, runStatus: 'diverged', runError: 'x' }),
    row({ seed: '2', runId: 2, attempts: 1, runStatus: 'finished' }),
  ];
  const st = cellStatuses(def, rows);
  assert.deepEqual(st.map((s) => `${s.cell.stage}/${s.cell.seed}:${s.state}`), ['0/1:failed', '0/2:done', '1/1:blocked', '1/2:pending', '2/1:pending', '2/2:pending']);
  assert.match(st[2]?.reason ?? '', /stage 1 \(mlm\) of exact seed 1 failed/);
  assert.deepEqual(tally(st), { total: 6, done: 1, running: 0, failed: 1, blocked: 1, todo: 3 });
});
