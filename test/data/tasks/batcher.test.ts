/**
 * batcher.test.ts: row gathering into (B, T) Int32Arrays, seeded per-epoch shuffling, the
 * prefetching epoch iterator (same batches as batchAt, built ahead while the consumer awaits,
 * errors surfacing at the failing batch).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Batcher, epochPermutation, gatherBatch, type Features } from '../../../src-main/data/tasks/batcher.js';

/** count rows of length T whose ids encode (row, position), plus per-row labels. */
function features(count: number, T: number): Features {
  const inputIds = Int32Array.from({ length: count * T }, (_, i) => 1000 * Math.floor(i / T) + (i % T));
  return {
    count,
    seqLen: T,
    inputIds,
    tokenTypeIds: Int32Array.from(inputIds, (v) => v % 2),
    attentionMask: new Int32Array(count * T).fill(1),
    labels: Int32Array.from({ length: count }, (_, r) => r),
    startPositions: Int32Array.from({ length: count }, (_, r) => r + 1),
    endPositions: Int32Array.from({ length: count }, (_, r) => r + 2),
  };
}

test('gatherBatch copies rows row-major with their per-row labels', () => {
  const f = features(5, 3);
  const b = gatherBatch(f, [4, 1]);
  assert.equal(b.batchSize, 2);
  assert.equal(b.seqLen, 3);
  assert.deepEqual(Array.from(b.inputIds), [4000, 4001, 4002, 1000, 1001, 1002]);
  assert.deepEqual(Array.from(b.labels!), [4, 1]);
  assert.deepEqual(Array.from(b.startPositions!), [5, 2]);
  assert.deepEqual(Array.from(b.endPositions!), [6, 3]);
  b.inputIds[0] = -1;
  assert.equal(f.inputIds[12], 4000, 'batches are copies');
  assert.throws(() => gatherBatch(f, [5]), RangeError);
});

test('epoch permutations: seeded, complete, different per epoch', () => {
  const p = epochPermutation(100, 3, 0);
  assert.deepEqual(Array.from(p).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(p, epochPermutation(100, 3, 0));
  assert.notDeepEqual(p, epochPermutation(100, 3, 1));
  assert.notDeepEqual(p, epochPermutation(100, 4, 0));
});

test('batch counts with and without dropLast; in order when not shuffling', () => {
  const f = features(10, 2);
  assert.equal(new Batcher(f, { batchSize: 4 }).batchesPerEpoch, 3);
  assert.equal(new Batcher(f, { batchSize: 4, dropLast: true }).batchesPerEpoch, 2);
  const b = new Batcher(f, { batchSize: 4, shuffle: false });
  assert.deepEqual(Array.from(b.batchAt(0, 2).labels!), [8, 9]);
  assert.throws(() => b.batchAt(0, 3), RangeError);
  assert.throws(() => new Batcher(f, { batchSize: 0 }), RangeError);
});

test('the epoch iterator yields batchAt\'s batches, every row once', async () => {
  const f = features(23, 4);
  const b = new Batcher(f, { batchSize: 5, seed: 9 });
  const got = [];
  for await (const x of b.epoch(2)) got.push(x);
  assert.equal(got.length, 5);
  got.forEach((x, i) => assert.deepEqual(x, b.batchAt(2, i)));
  const rows = got.flatMap((x) => Array.from(x.labels!)).sort((a, c) => a - c);
  assert.deepEqual(rows, Array.from({ length: 23 }, (_, i) => i));
});

test('batches are prepared ahead while the consumer is busy', async () => {
  const built: number[] = [];
  const b = new Batcher(features(40, 4), {
    batchSize: 4,
    prefetch: 2,
    transform: (batch, info) => {
      built.push(info.index);
      return batch;
    },
  });
  const it = b.epoch(0);
  await it.next(); // batch 0 handed over
  await sleep(20); // "the engine trains": the queue should fill meanwhile
  assert.ok(built.includes(1) && built.includes(2), `built ahead: ${built}`);
  assert.ok(!built.includes(4), 'but only `prefetch` ahead');
  const t0 = process.hrtime.bigint();
  await it.next(); // already built: no waiting on assembly
  assert.ok(Number(process.hrtime.bigint() - t0) < 100e6); // generous: shared CI cores
  await it.return();
});

test('an error building a batch surfaces at that batch, not as an unhandled rejection', async () => {
  const b = new Batcher(features(12, 2), {
    batchSize: 4,
    shuffle: false,
    prefetch: 3,
    transform: (batch, info) => {
      if (info.index === 2) throw new Error('boom');
      return batch;
    },
  });
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const x of b.epoch(0)) {
      seen.push(x.labels![0]!);
      await sleep(5);
    }
  }, /boom/);
  assert.deepEqual(seen, [0, 4]);
});
