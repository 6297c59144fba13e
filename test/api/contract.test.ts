/**
 * contract.test.ts: the API contract's payload validation (no lab, no engine): malformed payloads
 * are refused with messages naming the field, run specs follow the CLI's rules (shared ranges,
 * attention parameters, validateSpec), and the CLI's flags read the same tables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApiError, ATTENTION_PARAMS, decodeJson, encodeJson, MODEL_RANGES, OP_NAMES, OPERATIONS, parsePayload, TRAIN_RANGES,
} from '../../src-main/api/contract.js';
import { attentionParam } from '../../src-main/api/attention-params.js';
import { ATTENTION_PARAM_FLAG_SPECS, PARAM_FLAGS } from '../../src-main/cli/attention-flags.js';
import { trainCommand } from '../../src-main/cli/commands/train.js';
import { defaultSpec } from '../../src-main/training/spec.js';

function rejects(op: Parameters<typeof parsePayload>[0], payload: unknown, field: RegExp): string {
  try {
    parsePayload(op, payload);
  } catch (e) {
    assert.ok(e instanceof ApiError, `ApiError, got ${String(e)}`);
    assert.equal(e.code, 'bad-request');
    assert.match(e.message, field);
    return e.message;
  }
  assert.fail(`${op} accepted ${JSON.stringify(payload)}`);
}

const spec = (over: Record<string, unknown>) => ({ spec: { task: 'mlm', dataset: 'builtin-text', ...over } });

test('runs.start: a minimal spec gets the CLI defaults (200 steps)', () => {
  const p = parsePayload('runs.start', spec({}));
  assert.deepEqual(p.spec, defaultSpec({ task: 'mlm', dataset: 'builtin-text', steps: 200 }));
});

test('runs.start: attention parameters follow the shared ranges, naming the parameter', () => {
  rejects('runs.start', spec({ attention: 'bert-lsh', attentionParams: { bands: 100 } }), /spec\.attentionParams\.bands: must be in 1\.\.64, got 100/);
  rejects('runs.start', spec({ attention: 'bert-lsh', attentionParams: { bands: 0 } }), /spec\.attentionParams\.bands/);
  rejects('runs.start', spec({ attention: 'bert-lsh', attentionParams: { bands: '2.5' } }), /bands: must be an integer/);
  rejects('runs.start', spec({ attention: 'exact', attentionParams: { bands: 2 } }), /spec\.attentionParams\.bands: exact takes no parameter 'bands'/);
  rejects('runs.start', spec({ attention: 'yoso', attentionParams: { conv_window: 4 } }), /conv_window: must be odd/);
  rejects('runs.start', spec({ attention: 'bert-lsh', attentionParams: { fill: 'half' } }), /fill: must be one of zero, masked/);
  rejects('runs.start', spec({ attention: 'linformer' }), /spec\.attention/);
  const ok = parsePayload('runs.start', spec({ attention: 'reformer', attentionParams: { num_buckets: 'auto', chunk_length: 32 } }));
  assert.deepEqual(ok.spec.attentionParams, { num_buckets: 'auto', chunk_length: 32 });
});

test('runs.start: field types, unknown fields and validateSpec rules name the field', () => {
  rejects('runs.start', spec({ steps: 'ten' }), /spec\.steps: .*expected number/);
  rejects('runs.start', spec({ steps: 1.5 }), /spec\.steps/);
  rejects('runs.start', spec({ lr: 2 }), /spec\.lr/);
  rejects('runs.start', spec({ colour: 'red' }), /spec\.colour: unknown field/);
  rejects('runs.start', spec({ model: { hiddenSize: 130, numAttentionHeads: 4 } }), /spec\.model\.hiddenSize: 130 is not a multiple of numAttentionHeads 4/);
  rejects('runs.start', spec({ model: { maxSeqLen: 1024 } }), /spec\.model\.maxSeqLen/);
  rejects('runs.start', spec({ steps: 10, epochs: 1 }), /spec\.epochs: give steps or epochs, not both/);
  rejects('runs.start', { spec: { task: 'qa', dataset: 'q', docStride: 200, model: { maxSeqLen: 128 } } }, /spec\.docStride/);
  rejects('runs.start', spec({ seed: '-1' }), /spec\.seed/);
  rejects('runs.start', spec({ fromCheckpoint: '/etc' }), /spec\.fromCheckpoint: unknown field/);
  rejects('runs.start', { spec: { dataset: 'x' } }, /spec\.task/);
  rejects('runs.start', {}, /spec/);
});

test('attention.maps: text or a record index, one of them; a dataset needs an index', () => {
  rejects('attention.maps', { run: '1' }, /text: give text or a record index, not both/);
  rejects('attention.maps', { run: '1', text: 'a', index: 0 }, /text: give text or a record index/);
  rejects('attention.maps', { run: '1', text: 'a', dataset: 'x' }, /index: a dataset needs a record index/);
  rejects('attention.maps', { run: '1', text: '   ' }, /text/);
  rejects('attention.maps', { run: '1', index: -1 }, /index/);
  rejects('attention.maps', { run: '1', text: 'a', layer: 'all' }, /layer/);
  assert.deepEqual(parsePayload('attention.maps', { run: '1', dataset: 'notes', index: 2 }), { run: '1', dataset: 'notes', index: 2 });
});

test('other operations: bad types, ranges and unknown fields are refused with the field named', () => {
  rejects('runs.list', { limit: 0 }, /limit/);
  rejects('runs.list', { limit: 501 }, /limit/);
  rejects('runs.list', { limit: '5' }, /limit: .*expected number/);
  rejects('runs.list', { sort: { field: 'color', dir: 'asc' } }, /sort\.field/);
  rejects('runs.list', { filter: { owner: 'me' } }, /filter\.owner: unknown field/);
  rejects('runs.list', { filter: { status: ['sleeping'] } }, /filter\.status\.0/);
  rejects('runs.tag', { run: '1', tags: ['a b'] }, /tags\.0: a tag is 1\.\.64 characters/);
  rejects('runs.rename', { run: '1', name: '123' }, /name: a run name must not be all digits/);
  rejects('runs.series', { runs: ['1'], keys: ['train/loss'], buckets: 5000 }, /buckets/);
  rejects('datasets.import', { source: { type: 'url', url: 'http://x' }, kind: 'text' }, /source/);
  rejects('datasets.import', { source: { type: 'path', path: '/x' }, kind: 'audio' }, /kind/);
  rejects('datasets.import', { source: { type: 'upload', uploadId: '../../etc' }, kind: 'text' }, /source\.uploadId/);
  rejects('datasets.show', { name: '../lab.db' }, /name: a dataset name/);
  rejects('benchmarks.run', { mode: 'paper-table1', seq: -1 }, /seq/);
  rejects('benchmarks.run', { mode: 'scaling', minSeq: 4096, maxSeq: 128 }, /minSeq must not exceed maxSeq/);
  rejects('engine.info', { verbose: true }, /verbose: unknown field/);
  rejects('runs.show', [], /\(payload\)|expected object/);
  assert.deepEqual(parsePayload('runs.list', undefined), { offset: 0, limit: 50, sort: { field: 'createdAt', dir: 'desc' }, filter: {} });
});

test('every operation has a schema, and the list matches the table', () => {
  assert.deepEqual(OP_NAMES, Object.keys(OPERATIONS));
  for (const op of OP_NAMES) assert.equal(typeof OPERATIONS[op].safeParse, 'function', op);
  assert.ok(OP_NAMES.includes('attention.maps'), 'the Attention explorer\'s operation is in the contract');
});

test('the CLI flags read the same ranges as the contract (one source of truth)', () => {
  for (const [flag, name] of Object.entries(PARAM_FLAGS)) {
    const def = attentionParam(name);
    const f = ATTENTION_PARAM_FLAG_SPECS[flag as keyof typeof PARAM_FLAGS] as { min?: number; max?: number; choices?: readonly string[] };
    if (def.type === 'int') assert.deepEqual([f.min, f.max], [def.min, def.max], flag);
    else assert.deepEqual(f.choices, def.choices, flag);
  }
  assert.equal(ATTENTION_PARAMS.find((p) => p.name === 'bands')?.type === 'int' && attentionParam('bands').type, 'int');
  const flags = trainCommand.flags;
  assert.deepEqual([flags.hidden.min, flags.hidden.max], [MODEL_RANGES.hiddenSize.min, MODEL_RANGES.hiddenSize.max]);
  assert.deepEqual([flags['max-seq-len'].min, flags['max-seq-len'].max], [MODEL_RANGES.maxSeqLen.min, MODEL_RANGES.maxSeqLen.max]);
  assert.deepEqual([flags.batch.min, flags.batch.max], [TRAIN_RANGES.batchSize.min, TRAIN_RANGES.batchSize.max]);
  assert.deepEqual([flags.lr.min, flags.lr.max], [TRAIN_RANGES.lr.min, TRAIN_RANGES.lr.max]);
});

test('encodeJson / decodeJson keep NaN and infinities', () => {
  const v = { a: NaN, b: [Infinity, -Infinity, 1], c: 'NaN' };
  const back = decodeJson(encodeJson(v)) as typeof v;
  assert.ok(Number.isNaN(back.a));
  assert.deepEqual(back.b, [Infinity, -Infinity, 1]);
  assert.equal(back.c, 'NaN');
});
