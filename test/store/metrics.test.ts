// Metric points: append and summaries (NaN and Inf included), replaced steps, atomic batches,
// histories in step order, and downsampled series checked against a plain JS computation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetricPoint, SeriesBucket } from '../../src-main/store/index.js';
import { CHUNK_STEPS } from '../../src-main/store/migrations.js';
import { newRun, rng, withStore } from './helpers.js';

/** Same value, NaN included (assert.equal would do, but the messages are clearer). */
const same = (a: number, b: number, msg?: string): void => assert.ok(Object.is(a, b) || a === b, `${msg ?? ''} ${a} !== ${b}`);

test('append: summaries, NaN and Inf round trip, lastStep, default time', () => {
  withStore((s) => {
    const r = s.runs.create(newRun());
    const before = Date.now();
    s.metrics.append(r.id, [
      { key: 'train/loss', step: 1, value: 3 },
      { key: 'train/loss', step: 2, value: NaN },
      { key: 'train/loss', step: 3, value: 1 },
      { key: 'train/loss', step: 4, value: Infinity },
      { key: 'train/loss', step: 5, value: -Infinity },
      { key: 'train/loss', step: 6, value: 2 },
      { key: 'train/lr', step: 6, value: 1e-3, time: 123 },
      { key: 'train/nan', step: 1, value: NaN },
    ]);
    s.metrics.append(r.id, [{ key: 'train/loss', step: 7, value: NaN }]);
    assert.deepEqual(s.metrics.keys(r.id), ['train/loss', 'train/lr', 'train/nan']);
    const [loss, lr, nan] = s.metrics.summaries(r.id);
    assert.equal(loss.key, 'train/loss');
    assert.equal(loss.count, 7);
    assert.ok(Number.isNaN(loss.last), 'a NaN loss reads back as NaN, not null');
    assert.equal(loss.lastStep, 7);
    assert.deepEqual([loss.min, loss.minStep, loss.max, loss.maxStep], [1, 3, 3, 1], 'NaN and Inf never become min or max');
    assert.deepEqual(lr, { key: 'train/lr', count: 1, last: 1e-3, lastStep: 6, min: 1e-3, minStep: 6, max: 1e-3, maxStep: 6 });
    assert.ok(Number.isNaN(nan.last) && Number.isNaN(nan.min) && Number.isNaN(nan.max));
    assert.equal(nan.minStep, -1);

    const h = s.metrics.history(r.id, 'train/loss');
    assert.deepEqual(h.map((p) => p.step), [1, 2, 3, 4, 5, 6, 7]);
    const values = h.map((p) => p.value);
    assert.ok(Number.isNaN(values[1]) && Number.isNaN(values[6]));
    assert.deepEqual([values[0], values[2], values[3], values[4], values[5]], [3, 1, Infinity, -Infinity, 2]);
    assert.ok(h[0].time >= before && h[0].time <= Date.now());
    assert.equal(s.metrics.history(r.id, 'train/lr')[0].time, 123);
    assert.equal(s.runs.get(r.id)!.lastStep, 7);
    assert.deepEqual(s.metrics.history(r.id, 'no/such'), []);
    assert.deepEqual(s.metrics.summaries(9999), []);

    const [b] = s.metrics.series(r.id, 'train/loss', 1);
    assert.deepEqual({ ...b, last: 0 }, { stepFrom: 1, stepTo: 7, min: 1, max: 3, last: 0, lastStep: 7, count: 7 });
    assert.ok(Number.isNaN(b.last));
  });
});

test('history is in step order whatever the append order; a repeated step replaces the point', () => {
  withStore((s) => {
    const r = s.runs.create(newRun());
    s.metrics.append(r.id, [5, 1, 3].map((step) => ({ key: 'k', step, value: step * 10 })));
    s.metrics.append(r.id, [{ key: 'k', step: 2, value: 20 }]);
    assert.deepEqual(s.metrics.history(r.id, 'k').map((p) => [p.step, p.value]), [[1, 10], [2, 20], [3, 30], [5, 50]]);
    assert.equal(s.runs.get(r.id)!.lastStep, 5, 'lastStep never goes back');

    // A resumed run logs steps 3..8 again (and 3 twice within one batch).
    s.metrics.append(r.id, [3, 3, 4, 5, 6, 7, 8].map((step, i) => ({ key: 'k', step, value: 100 + i })));
    const h = s.metrics.history(r.id, 'k');
    assert.deepEqual(h.map((p) => p.step), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(h[2].value, 101, 'the later of two points at one step wins');
    const [sum] = s.metrics.summaries(r.id);
    assert.equal(sum.count, 8, 'count stays exact when points are replaced');
    assert.deepEqual([sum.last, sum.lastStep], [106, 8]);
    assert.ok(sum.min <= 10 && sum.max >= 106, 'min/max only widen (documented as approximate)');
    const buckets = s.metrics.series(r.id, 'k', 3);
    assert.equal(buckets.reduce((a, b) => a + b.count, 0), 8);
  });
});

test('a bad batch writes nothing; an unknown run is refused without poisoning key ids', () => {
  withStore((s) => {
    const r = s.runs.create(newRun());
    s.metrics.append(r.id, [{ key: 'a', step: 1, value: 1 }]);
    assert.throws(() => s.metrics.append(r.id, [{ key: 'a', step: 2, value: 2 }, { key: 'a', step: -1, value: 1 }]), /step must be an integer >= 0/);
    assert.throws(() => s.metrics.append(r.id, [{ key: 'a', step: 1.5, value: 1 }]), /integer/);
    assert.throws(() => s.metrics.append(r.id, [{ key: '', step: 1, value: 1 }]), /non-empty/);
    assert.throws(() => s.metrics.append(r.id, [{ key: 'a', step: 1, value: '1' as never }]), /must be a number/);
    assert.equal(s.metrics.summaries(r.id)[0].count, 1);
    assert.throws(() => s.metrics.append(9999, [{ key: 'fresh/key', step: 1, value: 1 }]), /no run with id 9999/);
    s.metrics.append(r.id, [{ key: 'fresh/key', step: 1, value: 1 }]);
    assert.deepEqual(s.metrics.keys(r.id), ['a', 'fresh/key']);
    assert.equal(s.metrics.history(r.id, 'fresh/key').length, 1);
    s.metrics.append(r.id, []);
  });
});

/** The documented bucketing, in plain JS, over points sorted by step. */
function expectedSeries(points: readonly { step: number; value: number }[], n: number): SeriesBucket[] {
  if (points.length === 0) return [];
  const lo = points[0].step;
  const hi = points[points.length - 1].step;
  const span = hi - lo + 1;
  // Chunk-level bucketing (edges on CHUNK_STEPS edges) once there are more than 8 points per
  // bucket and at least as many chunks as buckets in the step range.
  const C = CHUNK_STEPS;
  const clo = Math.floor(lo / C);
  const nc = Math.floor(hi / C) - clo + 1;
  const coarse = points.length > 8 * n && nc >= n;
  const bucketOf = (step: number): number => (coarse ? Math.floor(((Math.floor(step / C) - clo) * n) / nc) : Math.floor(((step - lo) * n) / span));
  const out: SeriesBucket[] = [];
  let cur: (SeriesBucket & { b: number }) | undefined;
  for (const p of points) {
    const b = bucketOf(p.step);
    if (!cur || cur.b !== b) {
      if (cur) out.push(strip(cur));
      cur = { b, stepFrom: p.step, stepTo: p.step, min: NaN, max: NaN, last: p.value, lastStep: p.step, count: 0 };
    }
    cur.count++;
    cur.stepTo = cur.lastStep = p.step;
    cur.last = p.value;
    if (Number.isFinite(p.value)) {
      if (Number.isNaN(cur.min) || p.value < cur.min) cur.min = p.value;
      if (Number.isNaN(cur.max) || p.value > cur.max) cur.max = p.value;
    }
  }
  if (cur) out.push(strip(cur));
  return out;
}
const strip = ({ b: _b, ...rest }: SeriesBucket & { b: number }): SeriesBucket => rest;

function randomSeries(seed: number, count: number, maxGap: number): MetricPoint[] {
  const r = rng(seed);
  const out: MetricPoint[] = [];
  let step = Math.floor(r() * 1000);
  for (let i = 0; i < count; i++) {
    const u = r();
    const value = u < 0.02 ? NaN : u < 0.03 ? Infinity : u < 0.04 ? -Infinity : (r() - 0.5) * 100;
    out.push({ key: 'train/loss', step, value, time: i });
    step += 1 + Math.floor(r() * maxGap);
  }
  return out;
}

test('series matches a plain JS bucketing of random data (point and chunk paths)', () => {
  withStore((s) => {
    const cases: [number, number, number][] = [
      [1, 40, 1],
      [2, 3_000, 3],
      [3, 60_000, 1],
      [4, 25_000, 40],
    ];
    for (const [seed, count, gap] of cases) {
      const r = s.runs.create(newRun({ name: `series-${seed}` }));
      const pts = randomSeries(seed, count, gap);
      const rr = rng(seed + 100);
      // Shuffled batches of random sizes, with a second key interleaved to keep ids apart.
      for (let i = 0; i < pts.length; ) {
        const size = 1 + Math.floor(rr() * 2500);
        const batch = pts.slice(i, i + size);
        s.metrics.append(r.id, [...batch.reverse(), { key: 'other', step: i, value: i }]);
        i += size;
      }
      const sorted = pts.map((p) => ({ step: p.step, value: p.value }));
      assert.equal(s.runs.get(r.id)!.lastStep, sorted[sorted.length - 1].step);
      for (const n of [1, 7, 100, 2000]) {
        const got = s.metrics.series(r.id, 'train/loss', n);
        const want = expectedSeries(sorted, n);
        assert.equal(got.length, want.length, `seed ${seed} n ${n}: bucket count`);
        assert.ok(got.length <= n);
        for (let i = 0; i < got.length; i++) {
          const g = got[i];
          const w = want[i];
          const at = `seed ${seed} n ${n} bucket ${i}`;
          assert.deepEqual([g.stepFrom, g.stepTo, g.lastStep, g.count], [w.stepFrom, w.stepTo, w.lastStep, w.count], at);
          same(g.min, w.min, `${at} min`);
          same(g.max, w.max, `${at} max`);
          same(g.last, w.last, `${at} last`);
          if (i > 0) assert.ok(g.stepFrom > got[i - 1].stepTo, `${at}: buckets in order, disjoint`);
        }
        assert.equal(got.reduce((a, b) => a + b.count, 0), count, 'every point in exactly one bucket');
      }
      // Dense enough series give as many buckets as asked for.
      if (gap === 1 && count >= 2000) assert.equal(s.metrics.series(r.id, 'train/loss', 2000).length, 2000);
    }
    assert.deepEqual(s.metrics.series(1, 'no/such', 10), []);
    assert.deepEqual(s.metrics.series(9999, 'train/loss', 10), []);
    assert.throws(() => s.metrics.series(1, 'train/loss', 0), /buckets/);
  });
});

test('append sustains at least 50,000 points/s in 1,000-point batches', () => {
  withStore((s) => {
    const r = s.runs.create(newRun());
    const keys = ['train/loss', 'train/lr', 'train/grad_norm', 'train/step_s'];
    const batches: MetricPoint[][] = [];
    for (let b = 0; b < 100; b++) {
      const batch: MetricPoint[] = [];
      for (let i = 0; i < 1000; i++) batch.push({ key: keys[i % 4], step: b * 250 + (i >> 2), value: Math.sin(i), time: i });
      batches.push(batch);
    }
    const t0 = performance.now();
    for (const b of batches) s.metrics.append(r.id, b);
    const perS = 100_000 / ((performance.now() - t0) / 1000);
    console.log(`# append: ${Math.round(perS)} points/s`);
    assert.ok(perS >= 50_000, `${Math.round(perS)} points/s`);
    assert.equal(s.metrics.summaries(r.id)[0].count, 25_000);
  });
});

test('chunks: random overwrites, gaps, huge steps and shuffled batches agree with a plain model', () => {
  withStore((s) => {
    for (const [seed, range, base] of [
      [11, 3_000, 0],
      [12, 40_000, 0],
      [13, 2_000, 2 ** 40 - 700],
    ] as [number, number, number][]) {
      const r = s.runs.create(newRun({ name: `chunks-${seed}` }));
      const rr = rng(seed);
      const model = new Map<number, { value: number; time: number }>();
      for (let b = 0; b < 40; b++) {
        const batch: MetricPoint[] = [];
        const size = 1 + Math.floor(rr() * 600);
        // Mostly increasing steps, sometimes anywhere (a resumed run rewriting its past).
        let step = base + Math.floor(rr() * range);
        for (let i = 0; i < size; i++) {
          const u = rr();
          step = u < 0.8 ? step + 1 + Math.floor(rr() * 3) : base + Math.floor(rr() * range);
          const value = u > 0.97 ? NaN : u > 0.96 ? -Infinity : Math.round((rr() - 0.5) * 1000);
          batch.push({ key: 'k', step, value, time: b * 1000 + i });
          batch.push({ key: 'other', step, value: 1 });
        }
        s.metrics.append(r.id, batch);
        for (const p of batch) if (p.key === 'k') model.set(p.step, { value: p.value, time: p.time! });
      }
      const want = [...model.entries()].sort((a, b) => a[0] - b[0]).map(([step, p]) => ({ step, ...p }));
      const got = s.metrics.history(r.id, 'k');
      assert.equal(got.length, want.length, `seed ${seed}: history length`);
      for (let i = 0; i < got.length; i++) {
        assert.equal(got[i].step, want[i].step, `seed ${seed} point ${i} step`);
        same(got[i].value, want[i].value, `seed ${seed} point ${i} value`);
        assert.equal(got[i].time, want[i].time, `seed ${seed} point ${i} time`);
      }
      const sum = s.metrics.summaries(r.id).find((x) => x.key === 'k')!;
      assert.equal(sum.count, want.length, 'count exact under overwrites');
      assert.equal(sum.lastStep, want[want.length - 1].step);
      same(sum.last, want[want.length - 1].value, 'last');
      for (const n of [1, 3, 10, 50, 2000]) {
        const g = s.metrics.series(r.id, 'k', n);
        const w = expectedSeries(want, n);
        assert.equal(g.length, w.length, `seed ${seed} n ${n}: bucket count`);
        for (let i = 0; i < g.length; i++) {
          const at = `seed ${seed} n ${n} bucket ${i}`;
          assert.deepEqual([g[i].stepFrom, g[i].stepTo, g[i].lastStep, g[i].count], [w[i].stepFrom, w[i].stepTo, w[i].lastStep, w[i].count], at);
          // Chunk min/max are recomputed on every rewrite, so they are exact even after overwrites.
          same(g[i].min, w[i].min, `${at} min`);
          same(g[i].max, w[i].max, `${at} max`);
          same(g[i].last, w[i].last, `${at} last`);
        }
      }
    }
    assert.equal(s.integrityCheck(), 'ok');
  });
});

test('chunks: times that are not integers, or years apart, round-trip exactly', () => {
  withStore((s) => {
    const r = s.runs.create(newRun());
    const times = [0, 1.5, 1e13, -5, 2 ** 31 + 7, 1730000000123];
    s.metrics.append(r.id, [
      ...times.map((time, i) => ({ key: 'frac', step: i, value: i, time })),
      ...times.filter(Number.isInteger).map((time, i) => ({ key: 'wide', step: 10 + i, value: i, time })),
      { key: 'ms', step: 3, value: 1, time: 1730000000000 },
      { key: 'ms', step: 4, value: 2, time: 1730000000000 + 2 ** 31 - 1 },
    ]);
    s.metrics.append(r.id, [{ key: 'ms', step: 5, value: 3, time: 1730000000000 - 2 ** 31 }]);
    assert.deepEqual(s.metrics.history(r.id, 'frac').map((p) => p.time), times);
    assert.deepEqual(s.metrics.history(r.id, 'wide').map((p) => p.time), times.filter(Number.isInteger));
    assert.deepEqual(s.metrics.history(r.id, 'ms').map((p) => p.time), [1730000000000, 1730000000000 + 2 ** 31 - 1, 1730000000000 - 2 ** 31]);
  });
});
