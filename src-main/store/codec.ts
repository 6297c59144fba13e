/**
 * codec.ts: how values cross the SQLite boundary: metric values with their non-finite flag, JSON
 * columns, and the checks on names every table shares. Pure functions; no SQL here.
 */

/** metrics.flag / metric_summary.last_flag: why value is NULL. */
export const FLAG_FINITE = 0;
export const FLAG_NAN = 1;
export const FLAG_POS_INF = 2;
export const FLAG_NEG_INF = 3;

/** [value for the REAL column (null when not finite), flag]. */
export function encodeValue(v: number): [number | null, number] {
  if (Number.isFinite(v)) return [v, FLAG_FINITE];
  if (Number.isNaN(v)) return [null, FLAG_NAN];
  return [null, v > 0 ? FLAG_POS_INF : FLAG_NEG_INF];
}

export function decodeValue(value: number | null, flag: number): number {
  switch (flag) {
    case FLAG_FINITE:
      // A finite value is never NULL; NaN is the honest answer if a row is ever damaged.
      return value ?? NaN;
    case FLAG_POS_INF:
      return Infinity;
    case FLAG_NEG_INF:
      return -Infinity;
    default:
      return NaN;
  }
}

/** A nullable REAL aggregate (min/max over finite values only) as a number: none -> NaN. */
export const realOrNaN = (v: number | null): number => (v === null ? NaN : v);

/**
 * JSON that keeps NaN and +-Infinity (plain JSON.stringify turns them into null): they are written
 * as the strings "NaN", "Infinity", "-Infinity" and read back as numbers. Used for evaluation
 * metrics, where a diverged loss must stay NaN.
 */
export function stringifyNumbers(o: Record<string, number>): string {
  return JSON.stringify(o, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

export function parseNumbers(s: string): Record<string, number> {
  const o = JSON.parse(s) as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) out[k] = typeof v === 'number' ? v : Number(v);
  return out;
}

/** A plain JSON object for a TEXT column; refuses what JSON would silently mangle. */
export function jsonObject(what: string, o: unknown): string {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new TypeError(`${what} must be an object`);
  return JSON.stringify(o);
}

export function checkName(what: string, s: unknown, max = 200): string {
  if (typeof s !== 'string' || s.trim() === '') throw new TypeError(`${what} must be a non-empty string`);
  if (s.length > max) throw new RangeError(`${what} is longer than ${max} characters`);
  // Control characters would break one-line listings, and \x1f separates tags in runs.list.
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new RangeError(`${what} must not contain control characters`);
  return s;
}

export function checkInt(what: string, n: unknown, min = 0): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) throw new RangeError(`${what} must be an integer >= ${min}, got ${String(n)}`);
  return n;
}

// ---- metric chunks (schema 4) ------------------------------------------------------------------

/**
 * A chunk holds the points of one (run, key) whose steps fall in [chunk * C, (chunk + 1) * C),
 * C = CHUNK_STEPS (migrations.ts, at most 256), as one little-endian blob:
 *   1 byte times format (0: Float64 times; 1: a Float64 base and Int32 deltas from it),
 *   n x Uint8 step offsets (step - chunk * C, strictly increasing), zero padding to a multiple of 8,
 *   n x Float64 values (NaN and +-Inf as themselves),
 *   format 0: n x Float64 times; format 1: Float64 base, n x Int32 (time - base).
 * Format 1 is used whenever every time is an integer within 2^31 ms of the first one (always, for
 * Date.now() times): 13 bytes a point instead of 17, so that a full 256-step chunk stays inside
 * its table page. n is the row's count column; nothing in the blob repeats it.
 */
export const TIMES_F64 = 0;
export const TIMES_I32 = 1;
export const chunkValuesAt = (n: number): number => (1 + n + 7) & ~7;
export const chunkBytes = (n: number, format: number): number => chunkValuesAt(n) + 8 * n + (format === TIMES_I32 ? 8 + 4 * n : 8 * n);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface DecodedChunk {
  offs: Uint8Array;
  vals: Float64Array;
  /** Decoded on first use (series never needs it). */
  times(): Float64Array;
}

/** A chunk blob's arrays: views where the blob allows, copies otherwise. */
export function decodeChunk(buf: Uint8Array, n: number): DecodedChunk {
  const format = buf[0];
  if ((format !== TIMES_F64 && format !== TIMES_I32) || buf.length !== chunkBytes(n, format)) {
    throw new RangeError(`metric chunk of ${buf.length} bytes (format ${format}) cannot hold ${n} points`);
  }
  const at = chunkValuesAt(n);
  const offs = buf.subarray(1, 1 + n);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  let vals: Float64Array;
  if (LITTLE_ENDIAN && (buf.byteOffset + at) % 8 === 0) vals = new Float64Array(buf.buffer, buf.byteOffset + at, n);
  else {
    vals = new Float64Array(n);
    for (let i = 0; i < n; i++) vals[i] = dv.getFloat64(at + 8 * i, true);
  }
  const tAt = at + 8 * n;
  return {
    offs,
    vals,
    times(): Float64Array {
      const t = new Float64Array(n);
      if (format === TIMES_F64) for (let i = 0; i < n; i++) t[i] = dv.getFloat64(tAt + 8 * i, true);
      else {
        const base = dv.getFloat64(tAt, true);
        for (let i = 0; i < n; i++) t[i] = base + dv.getInt32(tAt + 8 + 4 * i, true);
      }
      return t;
    },
  };
}

/** A chunk being built: fill offs/vals/times for n points, then finish() returns the blob. */
export interface ChunkBuilder {
  offs: Uint8Array;
  vals: Float64Array;
  times: Float64Array;
  finish(): Buffer;
}

// One chunk is built at a time (the store is single-threaded), so the builder's arrays are shared.
const SCRATCH = 256;
const sOffs = new Uint8Array(SCRATCH);
const sVals = new Float64Array(SCRATCH);
const sTimes = new Float64Array(SCRATCH);

export function chunkBuilder(n: number): ChunkBuilder {
  if (n < 1 || n > SCRATCH) throw new RangeError(`a metric chunk holds 1..${SCRATCH} points, not ${n}`);
  const offs = sOffs.subarray(0, n);
  const vals = sVals.subarray(0, n);
  const times = sTimes.subarray(0, n);
  return {
    offs,
    vals,
    times,
    finish(): Buffer {
      const base = times[0];
      let format = Number.isInteger(base) ? TIMES_I32 : TIMES_F64;
      for (let i = 0; i < n && format === TIMES_I32; i++) {
        const d = times[i] - base;
        if (!Number.isInteger(d) || d > 0x7fffffff || d < -0x80000000) format = TIMES_F64;
      }
      const ab = new ArrayBuffer(chunkBytes(n, format));
      const u8 = new Uint8Array(ab);
      const dv = new DataView(ab);
      const at = chunkValuesAt(n);
      u8[0] = format;
      u8.set(offs, 1);
      if (LITTLE_ENDIAN) new Float64Array(ab, at, n).set(vals);
      else for (let i = 0; i < n; i++) dv.setFloat64(at + 8 * i, vals[i], true);
      const tAt = at + 8 * n;
      if (format === TIMES_F64) {
        if (LITTLE_ENDIAN) new Float64Array(ab, tAt, n).set(times);
        else for (let i = 0; i < n; i++) dv.setFloat64(tAt + 8 * i, times[i], true);
      } else {
        dv.setFloat64(tAt, base, true);
        if (LITTLE_ENDIAN) {
          const t = new Int32Array(ab, tAt + 8, n);
          for (let i = 0; i < n; i++) t[i] = times[i] - base;
        } else for (let i = 0; i < n; i++) dv.setInt32(tAt + 8 + 4 * i, times[i] - base, true);
      }
      return Buffer.from(ab);
    },
  };
}
