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
