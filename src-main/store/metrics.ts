/**
 * metrics.ts: metric points (schema 4: metric_chunks, see migrations.ts and codec.ts).
 *
 * A point lives in chunk floor(step / C) of its (run, key), C = CHUNK_STEPS; a chunk row holds
 * its points as one packed blob plus count, first/last step, min/max (finite values only) and
 * last. append() groups a batch per (key, chunk) in JS and writes each touched chunk once: a
 * chunk above the key's last chunk is new (plain insert, no read); one at or below it is read
 * (or taken from what this connection wrote last, see Cached), merged and rewritten in place.
 * A batch is one transaction (a crash keeps whole batches only), and metric_summary and
 * runs.last_step are updated in it as before.
 *
 * Repeated steps: the later point replaces the earlier (within a batch and across batches).
 * Counts and last values stay exact everywhere. A chunk's min/max are recomputed over its points
 * on every rewrite, so series() stays exact too; only metric_summary's min/max (and their steps)
 * never shrink when a replaced point was the extreme: they are the extremes over every value
 * ever appended, as before schema 4.
 *
 * It does not buffer (training/metric-writer.ts batches the host's points).
 */
import type Database from 'better-sqlite3';
import { checkInt, checkName, chunkBuilder, decodeChunk, decodeValue, encodeValue, realOrNaN } from './codec.js';
import { CHUNK_STEPS } from './migrations.js';
import type { FullPoint, LabStore, MetricPoint, MetricSummary, SeriesBucket } from './types.js';

/** Series of at most this many points per bucket are bucketed from the points themselves. */
const RAW_POINTS_PER_BUCKET = 8;
const MAX_BUCKETS = 1_000_000;
const C = CHUNK_STEPS;

/** One chunk's points of this batch, in arrival order; sorted while offsets strictly increase. */
interface ChunkAcc {
  chunk: number;
  offs: number[];
  vals: number[];
  times: number[];
  sorted: boolean;
}

/** One key's running summary inside an append. */
interface KeyState {
  keyId: number;
  count: number;
  /** Decoded (NaN/Inf as themselves). */
  last: number;
  lastStep: number;
  min: number | null;
  minStep: number | null;
  max: number | null;
  maxStep: number | null;
  /** The key's last chunk before this batch (-1: none): only chunks up to it can hold points. */
  prevLastChunk: number;
  chunks: Map<number, ChunkAcc>;
  /** The chunk the previous point went to (most points go to the same one). */
  cur: ChunkAcc | undefined;
  /** The stored row of chunk prevLastChunk, if known without a read. */
  lastRow: ChunkSql | undefined;
  /** The row written this batch for chunk floor(lastStep / C), if any. */
  newLastRow: ChunkSql | undefined;
}

/**
 * What this connection last wrote for a (run, key): its summary and its last chunk's row, so that
 * the next batch reads neither. Valid only while no other connection has committed since
 * (PRAGMA data_version says so); cleared on any failed append.
 */
interface Cached {
  count: number;
  last: number;
  lastStep: number;
  min: number | null;
  minStep: number | null;
  max: number | null;
  maxStep: number | null;
  /** The stored row of chunk floor(lastStep / C), or undefined (then it is read when needed). */
  chunk: ChunkSql | undefined;
}
const CACHE_ENTRIES = 4096;

type SummarySql = [number, number | null, number, number, number | null, number | null, number | null, number | null];
/** [count, min, max, data, id] of an existing chunk. */
type ChunkSql = [number, number | null, number | null, Buffer, number];
type BucketSql = [number, number, number, number | null, number | null, number, number | null];

/** Sorts a batch's points of one chunk by offset, keeping the later of two at one offset. */
function normalise(a: ChunkAcc): void {
  const idx = a.offs.map((_, i) => i);
  idx.sort((i, j) => a.offs[i] - a.offs[j] || i - j);
  const offs: number[] = [];
  const vals: number[] = [];
  const times: number[] = [];
  for (const i of idx) {
    const o = a.offs[i];
    const k = offs.length;
    if (k > 0 && offs[k - 1] === o) {
      vals[k - 1] = a.vals[i];
      times[k - 1] = a.times[i];
    } else {
      offs.push(o);
      vals.push(a.vals[i]);
      times.push(a.times[i]);
    }
  }
  a.offs = offs;
  a.vals = vals;
  a.times = times;
  a.sorted = true;
}

export function metricsApi(db: Database.Database): LabStore['metrics'] {
  const keyIds = new Map<string, number>();
  const insKey = db.prepare(`INSERT OR IGNORE INTO metric_keys (name) VALUES (?)`);
  const keyIdOf = db.prepare(`SELECT id FROM metric_keys WHERE name = ?`).pluck();
  const runExists = db.prepare(`SELECT 1 FROM runs WHERE id = ?`).pluck();
  const getChunk = db.prepare(`SELECT count, min, max, data, id FROM metric_chunks WHERE run_id = ? AND key_id = ? AND chunk = ?`).raw();
  const insChunk = db.prepare(`
    INSERT INTO metric_chunks (run_id, key_id, chunk, count, first_step, last_step, min, max, last, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  // In place, by id: the (run, key, chunk) index is untouched.
  const updChunk = db.prepare(`UPDATE metric_chunks SET count = ?, first_step = ?, last_step = ?, min = ?, max = ?, last = ?, data = ? WHERE id = ?`);
  const getSummary = db
    .prepare(`SELECT count, last, last_flag, last_step, min, min_step, max, max_step FROM metric_summary WHERE run_id = ? AND key_id = ?`)
    .raw();
  const putSummary = db.prepare(`
    INSERT OR REPLACE INTO metric_summary (run_id, key_id, count, last, last_flag, last_step, min, min_step, max, max_step)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const bumpLastStep = db.prepare(`UPDATE runs SET last_step = max(last_step, ?) WHERE id = ?`);
  const dataVersion = db.prepare(`PRAGMA data_version`).pluck();
  const cache = new Map<string, Cached>();
  let cacheVersion = -1;

  const countAndHi = db.prepare(`SELECT count, last_step FROM metric_summary WHERE run_id = ? AND key_id = ?`).raw();
  const firstStep = db.prepare(`SELECT first_step FROM metric_chunks WHERE run_id = ? AND key_id = ? ORDER BY chunk LIMIT 1`).pluck();
  const allChunks = db.prepare(`SELECT chunk, count, data FROM metric_chunks WHERE run_id = ? AND key_id = ? ORDER BY chunk`).raw();
  // Coarse series: the bucket of a chunk is (chunk - lo) * n / span in integer arithmetic (the
  // parameters are bound as BigInt; a JS number binds as REAL). A bucket's last value is its
  // last chunk's: one index probe per bucket (that chunk is last_step / C). CROSS JOIN
  // keeps the buckets as the outer loop.
  const chunkSeries = db
    .prepare(`
    SELECT g.b, g.s0, g.s1, g.mn, g.mx, g.c, m.last FROM (
      SELECT (chunk - @lo) * @n / @span AS b, min(first_step) AS s0, max(last_step) AS s1, min(min) AS mn, max(max) AS mx, sum(count) AS c
        FROM metric_chunks WHERE run_id = @run AND key_id = @key GROUP BY b) g
      CROSS JOIN metric_chunks m ON m.run_id = @run AND m.key_id = @key AND m.chunk = g.s1 / @size
     ORDER BY g.b`)
    .raw();
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
    const chunks = new Map<number, ChunkAcc>();
    const c = cache.get(`${runId}:${keyId}`);
    if (c) {
      return { keyId, ...c, chunk: undefined, prevLastChunk: c.count > 0 ? Math.floor(c.lastStep / C) : -1, chunks, cur: undefined, lastRow: c.chunk, newLastRow: undefined } as KeyState;
    }
    const s = getSummary.get(runId, keyId) as SummarySql | undefined;
    if (!s) {
      return {
        keyId,
        count: 0,
        last: NaN,
        lastStep: -1,
        min: null,
        minStep: null,
        max: null,
        maxStep: null,
        prevLastChunk: -1,
        chunks,
        cur: undefined,
        lastRow: undefined,
        newLastRow: undefined,
      };
    }
    return {
      keyId,
      count: s[0],
      last: decodeValue(s[1], s[2]),
      lastStep: s[3],
      min: s[4],
      minStep: s[5],
      max: s[6],
      maxStep: s[7],
      prevLastChunk: s[0] > 0 ? Math.floor(s[3] / C) : -1,
      chunks,
      cur: undefined,
      lastRow: undefined,
      newLastRow: undefined,
    };
  };

  /** Merges one chunk's batch points with the stored chunk (if any), writes it; returns points added. */
  const writeChunk = (runId: number, s: KeyState, a: ChunkAcc): number => {
    if (!a.sorted) normalise(a);
    const base = a.chunk * C;
    let old: ChunkSql | undefined;
    if (a.chunk === s.prevLastChunk && s.lastRow) old = s.lastRow;
    else if (a.chunk <= s.prevLastChunk) old = getChunk.get(runId, s.keyId, a.chunk) as ChunkSql | undefined;
    const oldN = old ? old[0] : 0;
    const m = a.offs.length;
    let b;
    let mn: number | null;
    let mx: number | null;
    let n: number;
    // old[3][oldN]: the blob starts with a format byte and the Uint8 offsets: the stored last offset.
    if (!old || oldN === 0 || a.offs[0] > old[3][oldN]) {
      // Only new points after the stored ones (the usual case): copy the stored arrays, append.
      n = oldN + m;
      b = chunkBuilder(n);
      mn = old ? old[1] : null;
      mx = old ? old[2] : null;
      if (old && oldN > 0) {
        const d = decodeChunk(old[3], oldN);
        b.offs.set(d.offs, 0);
        b.vals.set(d.vals, 0);
        b.times.set(d.times(), 0);
      }
      for (let i = 0; i < m; i++) {
        const v = a.vals[i];
        b.offs[oldN + i] = a.offs[i];
        b.vals[oldN + i] = v;
        b.times[oldN + i] = a.times[i];
        if (v - v === 0) {
          if (mn === null || v < mn) mn = v;
          if (mx === null || v > mx) mx = v;
        }
      }
    } else {
      // Interleaved or repeated steps: a merge of two sorted lists, the batch winning ties; the
      // chunk's stats are recomputed exactly over the result.
      const d = decodeChunk(old[3], oldN);
      const dTimes = d.times();
      const offs: number[] = [];
      const vals: number[] = [];
      const times: number[] = [];
      let i = 0;
      let j = 0;
      while (i < oldN || j < m) {
        if (j >= m || (i < oldN && d.offs[i] < a.offs[j])) {
          offs.push(d.offs[i]);
          vals.push(d.vals[i]);
          times.push(dTimes[i]);
          i++;
        } else {
          if (i < oldN && d.offs[i] === a.offs[j]) i++;
          offs.push(a.offs[j]);
          vals.push(a.vals[j]);
          times.push(a.times[j]);
          j++;
        }
      }
      n = offs.length;
      b = chunkBuilder(n);
      mn = null;
      mx = null;
      for (let k = 0; k < n; k++) {
        const v = vals[k];
        b.offs[k] = offs[k];
        b.vals[k] = v;
        b.times[k] = times[k];
        if (v - v === 0) {
          if (mn === null || v < mn) mn = v;
          if (mx === null || v > mx) mx = v;
        }
      }
    }
    const last = b.vals[n - 1];
    const data = b.finish();
    const lastSql = last === last ? last : null;
    let id: number;
    if (old) {
      id = old[4];
      updChunk.run(n, base + b.offs[0], base + b.offs[n - 1], mn, mx, lastSql, data, id);
    } else {
      id = Number(insChunk.run(runId, s.keyId, a.chunk, n, base + b.offs[0], base + b.offs[n - 1], mn, mx, lastSql, data).lastInsertRowid);
    }
    if (a.chunk === Math.floor(s.lastStep / C)) s.newLastRow = [n, mn, mx, data, id];
    return n - oldN;
  };

  const appendTx = db.transaction((runId: number, points: readonly MetricPoint[], now: number) => {
    if (!runExists.get(runId)) throw new RangeError(`no run with id ${runId}`);
    // Another connection committed since our last append: what we remember may be stale.
    const version = dataVersion.get() as number;
    if (version !== cacheVersion) {
      cache.clear();
      cacheVersion = version;
    }
    const states = new Map<string, KeyState>();
    let maxStepSeen = -1;
    let s: KeyState | undefined;
    let sKey = '';
    for (const p of points) {
      if (s === undefined || p.key !== sKey) {
        sKey = p.key;
        s = states.get(p.key);
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
      }
      const step = p.step;
      const v = p.value;
      const chunk = Math.floor(step / C);
      let a = s.cur;
      if (a === undefined || a.chunk !== chunk) {
        a = s.chunks.get(chunk);
        if (!a) s.chunks.set(chunk, (a = { chunk, offs: [], vals: [], times: [], sorted: true }));
        s.cur = a;
      }
      const o = step - chunk * C;
      const len = a.offs.length;
      if (len > 0 && a.offs[len - 1] === o) {
        // The same step twice in a row: the later point replaces the earlier.
        a.vals[len - 1] = v;
        a.times[len - 1] = p.time ?? now;
      } else {
        if (len > 0 && o < a.offs[len - 1]) a.sorted = false;
        a.offs.push(o);
        a.vals.push(v);
        a.times.push(p.time ?? now);
      }
      if (step >= s.lastStep) {
        s.lastStep = step;
        s.last = v;
      }
      if (v - v === 0) {
        if (s.min === null || v < s.min) (s.min = v), (s.minStep = step);
        if (s.max === null || v > s.max) (s.max = v), (s.maxStep = step);
      }
      if (step > maxStepSeen) maxStepSeen = step;
    }
    for (const st of states.values()) {
      for (const a of st.chunks.values()) st.count += writeChunk(runId, st, a);
      const [last, lastFlag] = encodeValue(st.last);
      putSummary.run(runId, st.keyId, st.count, last, lastFlag, st.lastStep, st.min, st.minStep, st.max, st.maxStep);
      const lastChunk = Math.floor(st.lastStep / C);
      const row = st.newLastRow ?? (lastChunk === st.prevLastChunk ? st.lastRow : undefined);
      const id = `${runId}:${st.keyId}`;
      cache.delete(id);
      cache.set(id, { count: st.count, last: st.last, lastStep: st.lastStep, min: st.min, minStep: st.minStep, max: st.max, maxStep: st.maxStep, chunk: row });
      if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
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
        // IMMEDIATE: the transaction reads (chunks, summaries) before it writes. A deferred one
        // would hold a read snapshot that another host's commit can make stale, and SQLite then
        // answers the write with SQLITE_BUSY at once, without waiting (it cannot be retried
        // inside the transaction). Taking the write lock first makes it wait its turn instead.
        appendTx.immediate(runId, points, Date.now());
      } catch (e) {
        // Key ids inserted by the rolled-back transaction no longer exist, nor do its chunks.
        keyIds.clear();
        cache.clear();
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
     * Up to `buckets` buckets in step order, over the steps [lo, hi] of the key. With at most 8
     * points per bucket, or fewer chunks (C = 256 steps each) in [lo, hi] than buckets, points
     * are bucketed one by one: bucket = (step - lo) * buckets / (hi - lo + 1) (the chunks are
     * decoded in JS). Otherwise chunk rows are bucketed in SQL by the same formula applied to
     * chunk numbers, so bucket edges fall on chunk edges. Either way each bucket's count, min,
     * max (finite values only; NaN when it has none) and last (the value at its largest step,
     * NaN/Inf included) are exact over the points in [stepFrom, stepTo].
     */
    series(runId: number, key: string, buckets: number): SeriesBucket[] {
      const n = checkInt('buckets', buckets, 1);
      if (n > MAX_BUCKETS) throw new RangeError(`buckets must be at most ${MAX_BUCKETS}`);
      const keyId = findKey(key);
      if (keyId === undefined) return [];
      const sum = countAndHi.get(runId, keyId) as [number, number] | undefined;
      if (!sum || !sum[0]) return [];
      const [count, hi] = sum;
      const lo = firstStep.get(runId, keyId) as number;
      const clo = Math.floor(lo / C);
      const chunkSpan = Math.floor(hi / C) - clo + 1;
      if (count > RAW_POINTS_PER_BUCKET * n && chunkSpan >= n) {
        const rows = chunkSeries.all({ run: runId, key: keyId, lo: BigInt(clo), n: BigInt(n), span: BigInt(chunkSpan), size: BigInt(C) }) as BucketSql[];
        return rows.map((r) => ({
          stepFrom: r[1],
          stepTo: r[2],
          min: realOrNaN(r[3]),
          max: realOrNaN(r[4]),
          last: realOrNaN(r[6]),
          lastStep: r[2],
          count: r[5],
        }));
      }
      const span = hi - lo + 1;
      const exact = span * n <= Number.MAX_SAFE_INTEGER;
      const bucketOf = exact
        ? (step: number): number => Math.floor(((step - lo) * n) / span)
        : (step: number): number => Number((BigInt(step - lo) * BigInt(n)) / BigInt(span));
      const out: SeriesBucket[] = [];
      let cur: SeriesBucket | undefined;
      let curB = -1;
      for (const [chunk, cnt, data] of allChunks.all(runId, keyId) as [number, number, Buffer][]) {
        const d = decodeChunk(data, cnt);
        const base = chunk * C;
        for (let i = 0; i < cnt; i++) {
          const step = base + d.offs[i];
          const v = d.vals[i];
          const b = bucketOf(step);
          if (cur === undefined || b !== curB) {
            cur = { stepFrom: step, stepTo: step, min: NaN, max: NaN, last: v, lastStep: step, count: 0 };
            out.push(cur);
            curB = b;
          }
          cur.count++;
          cur.stepTo = cur.lastStep = step;
          cur.last = v;
          if (v - v === 0) {
            if (!(v >= cur.min)) cur.min = v; // NaN (none yet) or larger
            if (!(v <= cur.max)) cur.max = v;
          }
        }
      }
      return out;
    },

    history(runId: number, key: string): FullPoint[] {
      const keyId = findKey(key);
      if (keyId === undefined) return [];
      const out: FullPoint[] = [];
      for (const [chunk, cnt, data] of allChunks.all(runId, keyId) as [number, number, Buffer][]) {
        const d = decodeChunk(data, cnt);
        const base = chunk * C;
        const times = d.times();
        for (let i = 0; i < cnt; i++) out.push({ step: base + d.offs[i], value: d.vals[i], time: times[i] });
      }
      return out;
    },
  };
}
