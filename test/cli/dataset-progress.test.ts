/**
 * dataset-progress.test.ts: the progress line of the dataset commands redraws in place (\r) on a
 * terminal and prints plain lines, one per phase, otherwise; `datasets list` marks built-in and
 * synthetic datasets.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { datasetNotes, describeProgress, ProgressLine } from '../../src-main/cli/dataset-progress.js';
import type { DatasetRow } from '../../src-main/store/types.js';

function sink(isTTY: boolean): { out: string[]; write(s: string): void; isTTY: boolean } {
  const out: string[] = [];
  return { out, isTTY, write: (s) => void out.push(s) };
}

test('describeProgress names the dataset, phase and amount', () => {
  assert.equal(describeProgress({ dataset: 'd', phase: 'read', done: 1048576, total: 4194304, unit: 'bytes' }), 'd: read 1.0 / 4.0 MB (25%)');
  assert.equal(describeProgress({ dataset: 'd', phase: 'tokenize', done: 3, total: 4, unit: 'records' }), 'd: tokenize 3 / 4 records (75%)');
  assert.equal(describeProgress({ dataset: 'w', phase: 'train-tokenizer', done: 0, total: 1, unit: 'steps' }), 'w: train tokenizer');
});

test('on a terminal one line is redrawn; elsewhere one plain line per phase', () => {
  const tty = sink(true);
  const p = new ProgressLine(tty, 'x');
  for (let i = 0; i < 50; i++) p.update({ dataset: 'd', phase: 'tokenize', done: i, total: 50, unit: 'records' });
  p.done('ok');
  assert.ok(tty.out.length >= 2 && tty.out.length < 10, String(tty.out.length)); // throttled
  assert.ok(tty.out.slice(0, -1).every((s) => s.startsWith('\r') && !s.includes('\n')));
  assert.match(tty.out[tty.out.length - 1]!, /^\rx: ok in \d+\.\d s\s*\n$/);
  const log = sink(false);
  const q = new ProgressLine(log, 'x');
  for (const phase of ['read', 'read', 'tokenize', 'tokenize', 'write'] as const) q.update({ dataset: 'd', phase, done: 1, total: 2, unit: 'records' });
  q.done('ok');
  assert.equal(log.out.length, 4);
  assert.ok(log.out.every((s) => !s.includes('\r') && s.endsWith('\n')));
});

test('datasets list notes built-in and synthetic datasets', () => {
  const row = { builtin: true, stats: { synthetic: true } } as unknown as DatasetRow;
  assert.equal(datasetNotes(row), 'builtin, synthetic');
  assert.equal(datasetNotes({ builtin: false, stats: {} } as unknown as DatasetRow), '');
});
