/**
 * run-bests.test.ts: the Runs page's best-metric cells and columns: value, step and a tooltip
 * naming the metric and split; F1 marked as such; '—' without a value; best-first first clicks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BEST_COLUMNS, bestCell, isBestField } from '../../src-renderer/lib/run-bests.js';
import type { RunBestMetrics } from '../../src-main/api/contract.js';

const mlm: RunBestMetrics = {
  trainLoss: { value: 2.3125, step: 400 },
  evalSplit: 'validation',
  evalLoss: { value: 2.5, step: 300 },
  evalScore: { value: 0.4321, step: 350, metric: 'accuracy' },
};

test('bestCell: value, step and what it is', () => {
  assert.deepEqual(bestCell('bestTrainLoss', mlm), { value: '2.313', step: '@ 400', title: 'Lowest training loss, first reached at step 400' });
  assert.deepEqual(bestCell('bestEvalLoss', mlm), { value: '2.5', step: '@ 300', title: "Lowest evaluation loss on 'validation', first reached at step 300" });
  assert.deepEqual(bestCell('bestEvalScore', mlm), { value: '0.4321', step: '@ 350', title: "Highest evaluation accuracy on 'validation', first reached at step 350" });
});

test('bestCell: F1 says so; missing values read as a dash', () => {
  const qa: RunBestMetrics = { trainLoss: null, evalSplit: 'test', evalLoss: null, evalScore: { value: 0.5, step: 10, metric: 'f1' } };
  assert.deepEqual(bestCell('bestEvalScore', qa), { value: '0.5 F1', step: '@ 10', title: "Highest evaluation F1 on 'test', first reached at step 10" });
  assert.deepEqual(bestCell('bestTrainLoss', qa), { value: '—', step: '', title: '' });
  assert.deepEqual(bestCell('bestEvalLoss', qa), { value: '—', step: '', title: '' });
});

test('best columns sort best first and are recognised by field', () => {
  assert.deepEqual(BEST_COLUMNS.map((c) => [c.field, c.firstDir]), [['bestTrainLoss', 'asc'], ['bestEvalLoss', 'asc'], ['bestEvalScore', 'desc']]);
  assert.equal(isBestField('bestEvalLoss'), true);
  assert.equal(isBestField('lastTrainLoss'), false);
});
