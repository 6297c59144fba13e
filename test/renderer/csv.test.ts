/**
 * csv.test.ts: CSV export of the renderer's tables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvField, fileSlug, toCsv } from '../../src-renderer/lib/csv.js';

test('fields are quoted only when needed; quotes doubled', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField(null), '');
  assert.equal(csvField(NaN), 'NaN');
  assert.equal(csvField(-Infinity), '-Infinity');
  assert.equal(csvField(0.1 + 0.2), '0.30000000000000004');
});

test('toCsv: header, CRLF rows, trailing line break', () => {
  assert.equal(toCsv(['run', 'loss'], [['exact', 1.5], ['bert-lsh', null]]), 'run,loss\r\nexact,1.5\r\nbert-lsh,\r\n');
});

test('fileSlug', () => {
  assert.equal(fileSlug('Compare: train/loss'), 'compare-train-loss');
  assert.equal(fileSlug('***'), 'export');
});
