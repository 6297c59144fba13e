/**
 * heatmap.test.ts: the Attention explorer's colour scales and row normalisation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colorOf, difference, fmtValue, gradientCss, maxAbs, normalizeRows } from '../../src-renderer/lib/heatmap.js';

test('colour scales: ends, middle, clamping, degenerate max', () => {
  assert.deepEqual(colorOf(0, 1, false), [68, 1, 84]);
  assert.deepEqual(colorOf(1, 1, false), [253, 231, 37]);
  assert.deepEqual(colorOf(5, 1, false), [253, 231, 37]);
  assert.deepEqual(colorOf(0, 2, true), [247, 247, 247]);
  assert.deepEqual(colorOf(-2, 2, true), [33, 102, 172]);
  assert.deepEqual(colorOf(NaN, 1, false), [68, 1, 84]);
  assert.deepEqual(colorOf(3, 0, true), [247, 247, 247]);
  assert.match(gradientCss(true), /^linear-gradient\(to right, rgb\(33,102,172\) 0%.*100%\)$/);
});

test('normalizeRows, difference, maxAbs, fmtValue', () => {
  assert.deepEqual(normalizeRows([1, 3, 0, 0, -2, 2, 0, 0, 0], 3), [0.25, 0.75, 0, 0, 0.5, 0.5, 0, 0, 0]);
  assert.deepEqual(difference([1, 2], [0.5, 3]), [0.5, -1]);
  assert.equal(maxAbs([0.1, -0.7, 0.3]), 0.7);
  assert.equal(maxAbs([]), 0);
  assert.deepEqual([fmtValue(0), fmtValue(0.12345), fmtValue(2e-5)], ['0', '0.1235', '2.00e-5']);
});
