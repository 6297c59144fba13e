/**
 * metric-writer.test.ts: the metric points of a step (pointsOfStep): the step's parts and the
 * attention stage times become points when the engine reports them, and nothing is invented
 * when it does not; MetricWriter batches points into the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricWriter, pointsOfStep } from '../../src-main/training/metric-writer.js';
import type { StepMessage } from '../../src-main/training/protocol.js';
import type { LabStore, MetricPoint } from '../../src-main/store/types.js';

const step = (extra: Partial<StepMessage> = {}): StepMessage => ({
  type: 'step', step: 3, totalSteps: 10, epoch: 0, loss: 2.5, lr: 1e-4, gradNorm: 0.7, stepS: 0.2,
  computeS: 0.15, tokens: 4096, samples: 32, predictions: 600, correct: 60, ...extra,
});
const keys = (m: StepMessage) => new Map(pointsOfStep(m, 0).map((p) => [p.key, p.value]));

test('a step without parts or attention times writes only the base points', () => {
  const k = keys(step());
  assert.equal(k.get('train/loss'), 2.5);
  assert.equal(k.get('train/accuracy'), 0.1);
  assert.equal(k.get('train/tokens_per_s'), 4096 / 0.2);
  assert.ok(![...k.keys()].some((x) => x.startsWith('train/forward') || x.startsWith('attn/time/')));
});

test('the step parts and the timed attention stages become points', () => {
  const k = keys(step({
    forwardS: 0.05, backwardS: 0.08, optimizerS: 0.02,
    attention: { dotProducts: 100, pairs: 200, density: 0.5, collisions: 0,
      timeS: { hash: 0, scores: 0.01, softmax: 0, values: 0.002, backward: 0.03 } },
  }));
  assert.deepEqual([k.get('train/forward_s'), k.get('train/backward_s'), k.get('train/optimizer_s')], [0.05, 0.08, 0.02]);
  assert.equal(k.get('attn/time/scores_s'), 0.01);
  assert.equal(k.get('attn/time/values_s'), 0.002);
  assert.equal(k.get('attn/time/backward_s'), 0.03);
  // Stages the variant does not time (0) write nothing rather than a zero that reads as "free".
  assert.equal(k.has('attn/time/hash_s'), false);
  assert.equal(k.has('attn/time/softmax_s'), false);
  assert.equal(k.get('attn/density'), 0.5);
});

test('a CUDA graph step records its device time and no parts', () => {
  // The engine omits forwardS/backwardS/optimizerS on a graph step (timed only as a whole).
  const k = keys(step({ deviceS: 0.004 }));
  assert.equal(k.get('train/device_s'), 0.004);
  assert.equal(k.has('train/forward_s'), false);
  assert.equal(keys(step()).has('train/device_s'), false);
});

test('MetricWriter writes in batches of maxPoints and on flush', () => {
  const batches: MetricPoint[][] = [];
  const store = { metrics: { append: (_run: number, b: MetricPoint[]) => void batches.push(b) } } as unknown as LabStore;
  const w = new MetricWriter(store, 1, 60_000, 20);
  w.add(pointsOfStep(step(), 0));
  assert.equal(batches.length, 0);
  w.add(pointsOfStep(step(), 0));
  w.add(pointsOfStep(step(), 0));
  assert.equal(batches.length, 1);
  w.flush();
  assert.equal(w.written, 3 * pointsOfStep(step(), 0).length);
});
