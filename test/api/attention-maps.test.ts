/**
 * attention-maps.test.ts: the attention.maps operation (the Attention explorer) against a real
 * temporary lab: a text dataset imported with the small test tokenizer, tiny bert-lsh, yoso and
 * reformer runs trained a few steps through the API (their own processes, real checkpoints),
 * then maps of typed text and of a dataset record: shapes, tokens, rows that are distributions,
 * the replay check (variant weights x V = the variant's output), one layer only, and the errors
 * (too long, text and index together, no checkpoint, unknown run, missing record, bad layer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createLabApi } from '../../src-main/api/lab-api.js';
import { ApiError, type AttentionMapsResult } from '../../src-main/api/contract.js';
import { makeLab, TEST_TOKENIZER } from '../lab/lab-fixture.js';

const TEXT = Array.from({ length: 80 }, (_, i) => `Call me Ishmael ${i}. The whale swam in the sea near the ship and the sailors watched it.`).join('\n') + '\n';

async function failure(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
  return e;
}

type Api = ReturnType<typeof createLabApi>;

async function trainRun(api: Api, name: string, attention: string, attentionParams: Record<string, string | number> = {}): Promise<number> {
  const { run } = await api.call('runs.start', {
    spec: {
      task: 'mlm', dataset: 'notes', name, attention, attentionParams, steps: 4, batchSize: 4, evalBatches: 1,
      model: { hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 32, maxSeqLen: 32 },
    } as never,
  });
  for (let waited = 0; ; waited += 100) {
    const s = (await api.call('runs.show', { run: String(run.id) })).run.status;
    if (s !== 'queued' && s !== 'running') {
      assert.equal(s, 'finished', `${name} ended ${s}`);
      return run.id;
    }
    assert.ok(waited < 60_000, `${name} did not finish in 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Shapes and invariants every map must satisfy. */
function checkMaps(m: AttentionMapsResult, layers: number, softmaxRows: boolean): void {
  const T = m.tokens.length;
  assert.equal(m.numHeads, 2);
  assert.equal(m.layers.length, layers);
  for (const l of m.layers) {
    assert.equal(l.heads.length, 2);
    for (const h of l.heads) {
      assert.equal(h.exact.length, T * T);
      assert.equal(h.variant.length, T * T);
      assert.ok(h.computed.every((c) => c === 0 || c === 1));
      assert.ok(h.replayError < 1e-5, `layer ${l.layer} head ${h.head}: replay error ${h.replayError}`);
      assert.ok(h.meanTv >= 0 && h.meanTv <= h.maxTv + 1e-12 && h.maxTv <= 1 + 1e-9);
      assert.ok(h.support > 0 && h.support <= 1);
      for (let i = 0; i < T; i++) {
        const row = (a: number[]) => a.slice(i * T, (i + 1) * T).reduce((s, x) => s + x, 0);
        assert.ok(Math.abs(row(h.exact) - 1) < 1e-4, `exact row ${i} sums to ${row(h.exact)}`);
        if (softmaxRows) assert.ok(Math.abs(row(h.variant) - 1) < 1e-4, `variant row ${i} sums to ${row(h.variant)}`);
      }
    }
  }
}

test('attention.maps: exact vs variant per layer and head, from a trained run\'s checkpoint', { timeout: 180_000 }, async () => {
  const lab = await makeLab();
  const api = createLabApi({ dataDir: lab.dir, allowedRoots: [path.dirname(lab.dir)], log: () => undefined, threads: 1 });
  try {
    await api.call('datasets.import', { source: { type: 'path', path: lab.file('notes.txt', TEXT) }, kind: 'text', name: 'notes', tokenizer: TEST_TOKENIZER });
    const lsh = await trainRun(api, 'maps-lsh', 'bert-lsh', { bands: 2 });

    const m = await api.call('attention.maps', { run: 'maps-lsh', text: 'The whale swam near the ship.' });
    assert.deepEqual([m.run.id, m.run.attention, m.source.kind, m.truncated], [lsh, 'bert-lsh', 'text', false]);
    assert.equal(m.checkpoint.step, 4);
    assert.equal(m.tokens[0]!.token, '[CLS]');
    assert.equal(m.tokens.at(-1)!.token, '[SEP]');
    assert.ok(m.tokens.some((t) => t.token === 'whale'), m.tokens.map((t) => t.token).join(' '));
    checkMaps(m, 2, true);
    // bert-lsh computes only colliding pairs; with 2 bands some pairs do not collide in some head.
    assert.ok(m.layers.some((l) => l.heads.some((h) => h.computed.includes(0) && h.density < 1)));

    const one = await api.call('attention.maps', { run: String(lsh), text: 'The whale swam near the ship.', layer: 1 });
    assert.deepEqual(one.layers.map((l) => l.layer), [1]);
    assert.deepEqual(one.layers[0]!.heads[1]!.variant, m.layers[1]!.heads[1]!.variant, 'same input and draws: same map');

    const rec = await api.call('attention.maps', { run: 'maps-lsh', index: 3 });
    assert.deepEqual(rec.source, { kind: 'record', dataset: 'notes', index: 3, split: rec.source.kind === 'record' ? rec.source.split : '' });
    assert.ok(rec.tokens.some((t) => t.token === '3'), rec.tokens.map((t) => t.token).join(' '));
    checkMaps(rec, 2, true);

    for (const [variant, params, softmax] of [['yoso', { tau: 4, num_hash: 16 }, false], ['yoso-e', {}, false], ['reformer', { chunk_length: 4, num_hashes: 2 }, true]] as const) {
      await trainRun(api, `maps-${variant}`, variant, params);
      const r = await api.call('attention.maps', { run: `maps-${variant}`, text: 'Call me Ishmael. The sailors watched the whale swim in the sea.' });
      assert.equal(r.run.attention, variant);
      checkMaps(r, 2, softmax);
    }

    // Errors name what is wrong.
    const long = await failure(api.call('attention.maps', { run: 'maps-lsh', text: 'whale '.repeat(200) }));
    assert.equal(long.code, 'bad-request');
    assert.match(long.message, /202 tokens .* at most 128: shorten the text/);
    assert.match((await failure(api.call('attention.maps', { run: 'maps-lsh', text: 'a', index: 1 }))).message, /text: give text or a record index, not both/);
    assert.match((await failure(api.call('attention.maps', { run: 'maps-lsh' }))).message, /give text or a record index/);
    assert.equal((await failure(api.call('attention.maps', { run: 'ghost', text: 'a' }))).code, 'not-found');
    const missing = await failure(api.call('attention.maps', { run: 'maps-lsh', index: 10_000 }));
    assert.deepEqual([missing.code, missing.message], ['not-found', "index: dataset 'notes' has no record 10000"]);
    assert.equal((await failure(api.call('attention.maps', { run: 'maps-lsh', text: 'a', layer: 2 }))).code, 'bad-request');
    assert.match((await failure(api.call('attention.maps', { run: 'maps-lsh', dataset: 'nope', index: 0 }))).message, /no dataset 'nope'/);
  } finally {
    await api.close();
    lab.close();
  }
});
