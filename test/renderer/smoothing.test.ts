/**
 * smoothing.test.ts: the debiased EMA of the Compare page and the live-update throttle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emaSmooth, emaSmoothPoints, throttle } from '../../src-renderer/lib/smoothing.js';

test('weight 0 is the raw curve; a constant stays constant (debiased, no pull to 0)', () => {
  assert.deepEqual(emaSmooth([3, 1, 4], 0), [3, 1, 4]);
  for (const v of emaSmooth([5, 5, 5, 5], 0.9)) assert.ok(Math.abs(v - 5) < 1e-12);
});

test('EMA matches the hand-computed debiased recurrence', () => {
  const w = 0.5;
  const out = emaSmooth([1, 3], w);
  assert.equal(out[0], 1);
  // acc = 0.5*0.5 + 0.5*3 = 1.75; debias 1 - 0.25 = 0.75
  assert.ok(Math.abs(out[1]! - 1.75 / 0.75) < 1e-12);
});

test('NaN passes through and does not poison later points', () => {
  const out = emaSmooth([1, NaN, 1], 0.6);
  assert.ok(Number.isNaN(out[1]));
  assert.ok(Math.abs(out[2]! - 1) < 1e-12);
});

test('points keep their x', () => {
  assert.deepEqual(emaSmoothPoints([{ x: 10, y: 2 }, { x: 20, y: 2 }], 0.9).map((p) => p.x), [10, 20]);
});

test('throttle runs at most once per interval and always runs the trailing call', async () => {
  let calls = 0;
  const t = throttle(() => calls++, 40);
  t();
  t();
  t();
  assert.equal(calls, 1);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(calls, 2);
  t.cancel();
});
