/**
 * errors.ts: turns whatever a lab service throws into an ApiError with a code the UI can act on.
 * Known failures keep their message (they name the run, dataset, file or field); anything else
 * becomes 'internal' with a generic message, and its stack goes to the log (stderr), never to the
 * client.
 *
 * It does not decide HTTP statuses (contract.ts HTTP_STATUS does) or log successful calls.
 */
import { ApiError } from './contract.js';
import { RunNotFoundError, RunRefusedError } from '../lab/runs.js';
import { SpecError } from '../training/spec.js';
import { DataError } from '../data/types.js';
import { ImportCancelledError } from '../data/import/common.js';
import { StoreError } from '../store/types.js';

/** Where internal errors are reported (stderr by default; tests may capture it). */
export type ErrorLog = (text: string) => void;

/** Messages of plain Errors from lab/ that mean "no such thing". */
const NOT_FOUND_RE = /^no (dataset|run|tokenizer)\b|is not in th(e|is) lab|not found in|: no such file/i;
/** Messages of plain Errors from lab/ that mean "the input is wrong" (names, values, files). */
const BAD_INPUT_RE = /^invalid (dataset|tokenizer) name|must be|^validation fraction|^seed |is not a (file|regular file)|is empty|cannot read/i;
const CONFLICT_RE = /already exists|exists but|is in use|owned by another/i;

export function toApiError(e: unknown, log: ErrorLog, op: string): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof RunNotFoundError) return new ApiError('not-found', e.message);
  if (e instanceof RunRefusedError) return new ApiError('conflict', e.message);
  if (e instanceof SpecError) return new ApiError('bad-request', e.message);
  if (e instanceof DataError) return new ApiError('bad-request', e.message);
  if (e instanceof ImportCancelledError || (e instanceof Error && /cancelled/i.test(e.name))) return new ApiError('conflict', e.message);
  if (e instanceof StoreError && e.code === 'in-use') return new ApiError('conflict', e.message);
  // Only plain Errors carry the lab's user-facing messages; TypeError & co. are bugs.
  if (e instanceof Error && e.constructor === Error) {
    if (NOT_FOUND_RE.test(e.message)) return new ApiError('not-found', e.message);
    if (CONFLICT_RE.test(e.message)) return new ApiError('conflict', e.message);
    if (BAD_INPUT_RE.test(e.message) && !/\n\s+at /.test(e.message)) return new ApiError('bad-request', e.message);
  }
  log(`lshlab api: ${op} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return new ApiError('internal', `${op} failed because of an internal error (details are in the lshlab log)`);
}
