/**
 * metrics.ts: per-step metric points: append (the run host's hot path), per-key summaries,
 * downsampled series for charts, and full histories for export.
 *
 * Every append also keeps two derived tables current, in the same transaction:
 *   metric_summary  one row per (run, key): count, last, min, max (with their steps), so lists
 *                   and comparisons never scan points;
 *   metric_blocks   per (run, key, level L = 1..6): count, first/last step, min, max of the steps
 *                   [b * 8^L, (b + 1) * 8^L), so that a series of a million points is downsampled
 *                   from ~16,000 block rows instead of a million point rows (a plain scan of 1M
 *                   points already takes ~50-150 ms on the 2-core development machine).
 *
 * Replaced points (a resumed run that logs a step again): the point itself is replaced, count and
 * last stay exact (we look up whether the step existed), but min/max in the summary and in the
 * blocks may still reflect the overwritten value: they are only ever widened, not recomputed.
 * Resumed runs replay with the same seed, so the values usually coincide.
 *
 * It does not buffer (training/metric-writer.ts batches points) and does not validate key names
 * beyond non-empty and printable.
 */
import type Database from 'better-sqlite3';
import { checkInt, checkName, decodeValue, encodeValue, realOrNaN } from './codec.js';
import { BLOCK_LEVELS, blockSize } from './migrations.js';
import type { FullPoint, LabStore, MetricPoint, MetricSummary, SeriesBucket } from './types.js';

/** Series of at most this many points per bucket are bucketed from the points themselves. */
const RAW_POINTS_PER_BUCKET = 8;
const MAX_BUCKETS = 1_000_000;

interface Acc {
  count: number;
  first: number;
  last: number;
  min: number | null;
  max: number | null;
}

/** One key's running summary inside an append. */
interface KeyState {
  keyId: number;
  count: number;
  last: number | null;
  lastFlag: number;
  lastStep: number;
  min: number | null;
  minStep: number | null;
  max: number | null;
  maxStep: number | null;
  /** Per level (index L - 1): block -> accumulator of this batch's points. */
  blocks: Map<number, Acc>[];
}

type SummarySql = [number, number | null, number, number, number | null, number | null, number | null, number | null];
type BucketSql = [number, number, number, number | null, number | null, number, number | null, number];

export function metricsApi(db: Database.Database): LabStore['metrics'] {
  const keyIds = new Map<string, number>();
  const insKey = db.prepare(`INSERT OR IGNORE INTO metric_keys (name) VALUES (?)`);
  const keyIdOf = db.prepare(`SELECT id FROM metric_keys WHERE name = ?`).pluck();
  const runExists = db.prepare(`SELECT 1 FROM runs WHERE id = ?`).pluck();
  const insPoint = db.prepare(`INSERT OR REPLACE INTO metrics (run_id, key_id, step, value, flag, time) VALUES (?, ?, ?, ?, ?, ?)`);
  const pointExists = db.prepare(`SELECT 1 FROM metrics WHERE run_id = ? AND key_id = ? AND step = ?`).pluck();
  const getSummary = db
    .prepare(`SELECT count, last, last_flag, last_step, min, min_step, max, max_step FROM metric_summary WHERE run_id = ? AND key_id = ?`)
    .raw();
  const putSummary = db.prepare(`
    INSERT OR REPLACE INTO metric_summary (run_id, key_id, count, last, last_flag, last_step, min, min_step, max, max_step)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  // min()/max() with a NULL argument return NULL, hence the CASEs (NULL = no finite value yet).
  const upBlock = db.prepare(`
    INSERT INTO metric_blocks (run_id, key_id, level, block, count, first_step, last_step, min, max)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (run_id, key_id, level, block) DO UPDATE SET
      count = count + excluded.count,
      first_step = min(first_step, excluded.first_step),
      last_step = max(last_step, excluded.last_step),
      min = CASE WHEN excluded.min IS NULL THEN min WHEN min IS NULL THEN excluded.min ELSE min(min, excluded.min) END,
      max = CASE WHEN excluded.max IS NULL THEN max WHEN max IS NULL THEN excluded.max ELSE max(max, excluded.max) END`);
  const bumpLastStep = db.prepare(`UPDATE runs SET last_step = max(last_step, ?) WHERE id = ?`);

  const summaryCount = db.prepare(`SELECT count FROM metric_summary WHERE run_id = ? AND key_id = ?`).pluck();
  const minStep = db.prepare(`SELECT min(step) FROM metrics WHERE run_id = ? AND key_id = ?`).pluck();
  const maxStep = db.prepare(`SELECT max(step) FROM metrics WHERE run_id = ? AND key_id = ?`).pluck();
  // The bucket of a point is (step - lo) * n / span in integer arithmetic (the parameters are
  // bound as BigInt; a JS number binds as REAL). The bucket's last value is looked up at its
  // largest step: one primary-key probe per bucket. CROSS JOIN keeps the buckets as the outer
  // loop.
  const rawSeries = db
    .prepare(`
    SELECT g.b, g.s0, g.s1, g.mn, g.mx, g.c, m.value, m.flag FROM (
      SELECT (step - @lo) * @n / @span AS b, min(step) AS s0, max(step) AS s1, min(value) AS mn, max(value) AS mx, count(*) AS c
        FROM metrics WHERE run_id = @run AND key_id = @key GROUP BY b) g
      CROSS JOIN metrics m ON m.run_id = @run AND m.key_id = @key AND m.step = g.s1
     ORDER BY g.b`)
    .raw();
  const blockSeries = db
    .prepare(`
    SELECT g.b, g.s0, g.s1, g.mn, g.mx, g.c, m.value, m.flag FROM (
      SELECT (block - @lo) * @n / @span AS b, min(first_step) AS s0, max(last_step) AS s1, min(min) AS mn, max(max) AS mx, sum(count) AS c
        FROM metric_blocks WHERE run_id = @run AND key_id = @key AND level = @level GROUP BY b) g
      CROSS JOIN metrics m ON m.run_id = @run AND m.key_id = @key AND m.step = g.s1
     ORDER BY g.b`)
    .raw();
  // Infinities decoded in SQL (9e999 overflows to +Inf), NaN comes back as NULL: three columns
  // straight into FullPoint objects is the cheapest path for a million-point export.
  const history = db.prepare(`
    SELECT step, CASE flag WHEN 0 THEN value WHEN 2 THEN 9e999 WHEN 3 THEN -9e999 END AS value, time
      FROM metrics WHERE run_id = ? AND key_id = ? ORDER BY step`);
  const keys = db
    .prepare(`SELECT k.name FROM metric_summary s JOIN metric_keys k ON k.id = s.key_id WHERE s.run_id = ? ORDER BY k.name`)
    .pluck();
  const summaries = db
    .prepare(`
    SELECT k.name, s.count, s.last, s.last_flag, s.last_step, s.min, s.min_step, s.max, s.max_step
      FROM metric_summary s JOIN metric_keys k ON k.id = s.key_id WHERE s.run_id = ? ORDER BY k.name`)
    .raw();

  /** Existing key's id (no insert), from the cache or the table. */
  const findKey = (key: string): number | undefined => {
    let id = keyIds.get(key);
    if (id === undefined) {
      id = keyIdOf.get(key) as number | undefined;
      if (id !== undefined) keyIds.set(key, id);
    }
    return id;
  };

  const stateOf = (runId: number, keyId: number): KeyState => {
    const s = getSummary.get(runId, keyId) as SummarySql | undefined;
    const blocks: Map<number, Acc>[] = [];
    for (let l = 0; l < BLOCK_LEVELS; l++) blocks.push(new Map());
    if (!s) return { keyId, count: 0, last: null, lastFlag: 0, lastStep: -1, min: null, minStep: null, max: null, maxStep: null, blocks };
    return { keyId, count: s[0], last: s[1], lastFlag: s[2], lastStep: s[3], min: s[4], minStep: s[5], max: s[6], maxStep: s[7], blocks };
  };

  const appendTx = db.transaction((runId: number, points: readonly MetricPoint[], now: number) => {
    if (!runExists.get(runId)) throw new RangeError(`no run with id ${runId}`);
    const states = new Map<string, KeyState>();
    let maxStepSeen = -1;
    for (const p of points) {
      let s = states.get(p.key);
      if (!s) {
        let keyId = findKey(p.key);
        if (keyId === undefined) {
          insKey.run(p.key);
          keyId = keyIdOf.get(p.key) as number;
          keyIds.set(p.key, keyId);
        }
        s = stateOf(runId, keyId);
        states.set(p.key, s);
      }
      const step = p.step;
      const [v, flag] = encodeValue(p.value);
      const hadAny = s.count > 0;
      // Only a step at or below the key's last one can be a repeat: monotonic appends skip the probe.
      const replaced = hadAny && step <= s.lastStep && pointExists.get(runId, s.keyId, step) !== undefined;
      insPoint.run(runId, s.keyId, step, v, flag, p.time ?? now);
      if (!replaced) s.count++;
      if (!hadAny || step >= s.lastStep) {
        s.last = v;
        s.lastFlag = flag;
        s.lastStep = step;
      }
      if (v !== null) {
        if (s.min === null || v < s.min) (s.min = v), (s.minStep = step);
        if (s.max === null || v > s.max) (s.max = v), (s.maxStep = step);
      }
      for (let l = 0; l < BLOCK_LEVELS; l++) {
        const b = Math.floor(step / blockSize(l + 1));
        let a = s.blocks[l].get(b);
        if (!a) s.blocks[l].set(b, (a = { count: 0, first: step, last: step, min: null, max: null }));
        if (!replaced) a.count++;
        if (step < a.first) a.first = step;
        if (step > a.last) a.last = step;
        if (v !== null) {
          if (a.min === null || v < a.min) a.min = v;
          if (a.max === null || v > a.max) a.max = v;
        }
      }
      if (step > maxStepSeen) maxStepSeen = step;
    }
    for (const s of states.values()) {
      putSummary.run(runId, s.keyId, s.count, s.last, s.lastFlag, s.lastStep, s.min, s.minStep, s.max, s.maxStep);
      for (let l = 0; l < BLOCK_LEVELS; l++) {
        for (const [b, a] of s.blocks[l]) upBlock.run(runId, s.keyId, l + 1, b, a.count, a.first, a.last, a.min, a.max);
      }
    }
    bumpLastStep.run(maxStepSeen, runId);
  });

  return {
    append(runId: number, points: readonly MetricPoint[]): void {
      if (points.length === 0) return;
      // Checked before the transaction, so a bad point fails the batch before anything is written.
      for (const p of points) {
        checkName('metric key', p.key);
        checkInt('metric step', p.step);
        if (typeof p.value !== 'number') throw new TypeError(`metric '${p.key}' value must be a number, got ${typeof p.value}`);
        if (p.time !== undefined && !Number.isFinite(p.time)) throw new RangeError(`metric '${p.key}' time must be a finite number`);
      }
      try {
        appendTx(runId, points, Date.now());
      } catch (e) {
        // Key ids inserted by the rolled-back transaction no longer exist.
        keyIds.clear();
        throw e;
      }
    },

    keys: (runId) => keys.all(runId) as string[],

    summaries(runId: number): MetricSummary[] {
      return (summaries.all(runId) as [string, ...SummarySql][]).map((r) => ({
        key: r[0],
        count: r[1],
        last: decodeValue(r[2], r[3]),
        lastStep: r[4],
        // No finite value at all: NaN, at step -1.
        min: realOrNaN(r[5]),
        minStep: r[6] ?? -1,
        max: realOrNaN(r[7]),
        maxStep: r[8] ?? -1,
      }));
    },

    /**
     * Up to `buckets` buckets in step order. A series with at most 8 points per bucket is
     * bucketed point by point: bucket = (step - minStep) * buckets / (maxStep - minStep + 1).
     * A longer one uses the coarsest block level that still has at least `buckets` blocks in the
     * step range and applies the same formula to block numbers, so bucket edges fall on block
     * edges (8^L steps). Either way each bucket's count, min, max (finite values only; NaN when
     * it has none) and last (the value at its largest step, NaN/Inf included) are exact over the
     * points in [stepFrom, stepTo].
     */
    series(runId: number, key: string, buckets: number): SeriesBucket[] {
      const n = checkInt('buckets', buckets, 1);
      if (n > MAX_BUCKETS) throw new RangeError(`buckets must be at most ${MAX_BUCKETS}`);
      const keyId = findKey(key);
      if (keyId === undefined) return [];
      const count = summaryCount.get(runId, keyId) as number | undefined;
      if (!count) return [];
      const lo = minStep.get(runId, keyId) as number;
      const hi = maxStep.get(runId, keyId) as number;
      const span = hi - lo + 1;
      let level = 0;
      if (count > RAW_POINTS_PER_BUCKET * n) {
        while (level < BLOCK_LEVELS && blockSize(level + 1) * n <= span) level++;
      }
      let rows: BucketSql[];
      if (level === 0) {
        rows = rawSeries.all({ run: runId, key: keyId, lo: BigInt(lo), n: BigInt(n), span: BigInt(span) }) as BucketSql[];
      } else {
        const size = blockSize(level);
        const blo = Math.floor(lo / size);
        const bhi = Math.floor(hi / size);
        rows = blockSeries.all({
          run: runId,
          key: keyId,
          level,
          lo: BigInt(blo),
          n: BigInt(n),
          span: BigInt(bhi - blo + 1),
        }) as BucketSql[];
      }
      return rows.map((r) => ({
        stepFrom: r[1],
        stepTo: r[2],
        min: realOrNaN(r[3]),
        max: realOrNaN(r[4]),
        last: decodeValue(r[6], r[7]),
        lastStep: r[2],
        count: r[5],
      }));
    },

    history(runId: number, key: string): FullPoint[] {
      const keyId = findKey(key);
      if (keyId === undefined) return [];
      const points = history.all(runId, keyId) as { step: number; value: number | null; time: number }[];
      for (const p of points) if (p.value === null) p.value = NaN;
      return points as FullPoint[];
    },
  };
}
