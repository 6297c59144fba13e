/**
 * contract-values.ts: the plain values of the API contract (no zod): run statuses and sort
 * fields, size limits, serve mode's paths and the JSON helpers of its wire format. contract.ts
 * re-exports all of it; the renderer imports what its first screen needs from here, so that the
 * schemas (zod) load only with the pages that validate forms.
 */

export const RUN_STATUSES = ['queued', 'running', 'finished', 'failed', 'crashed', 'diverged', 'cancelled'] as const;

export const DATASET_PREVIEW_ROWS = 100;
export const DATASET_PREVIEW_CHARS = 4000;
export const DATASET_PREVIEW_TOKENS = 512;
export const RUNS_PAGE_MAX = 500;
export const SERIES_MAX_BUCKETS = 2000;
/** attention.maps: the longest input (tokens, [CLS] and [SEP] included; the engine's limit) and text. */
export const ATTENTION_MAPS_MAX_TOKENS = 128;
export const ATTENTION_MAPS_MAX_CHARS = 2000;

/** bestEvalScore sorts accuracy (mlm, classification) and F1 (qa) runs together: filter by task to compare like with like. */
export const RUN_SORT_FIELDS = [
  'createdAt', 'id', 'name', 'status', 'task', 'attention', 'dataset', 'lastStep', 'durationS', 'lastTrainLoss',
  'bestTrainLoss', 'bestEvalLoss', 'bestEvalScore',
] as const;

// ---- serve mode's wire format -------------------------------------------------------------------------

export const API_PREFIX = '/api/';
export const EVENTS_PATH = '/api/events';
export const UPLOAD_PATH = '/api/upload';
export const TOKEN_HEADER = 'x-lshlab-token';
export const TOKEN_COOKIE = 'lshlab_token';

/** NaN and +-Infinity over JSON: these exact strings stand for them (JSON has no such numbers). */
export const NON_FINITE = { NaN: '__lshlab:NaN__', Infinity: '__lshlab:Infinity__', '-Infinity': '__lshlab:-Infinity__' } as const;
const FROM_SENTINEL: Record<string, number> = { [NON_FINITE.NaN]: NaN, [NON_FINITE.Infinity]: Infinity, [NON_FINITE['-Infinity']]: -Infinity };

/** JSON.stringify that keeps non-finite numbers as NON_FINITE sentinels. */
export function encodeJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? NON_FINITE[String(x) as keyof typeof NON_FINITE] : x));
}

/** JSON.parse that turns NON_FINITE sentinels back into numbers. */
export function decodeJson(text: string): unknown {
  return JSON.parse(text, (_k, x: unknown) => (typeof x === 'string' && x in FROM_SENTINEL ? FROM_SENTINEL[x] : x));
}
