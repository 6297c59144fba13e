/**
 * split.ts: deterministic, seeded train/validation splits for sources that give none. Records
 * that already carry a split keep it; of the n others exactly round(validationFraction * n) go to
 * "validation". Two ways, same guarantee (exact count, every subset of that size equally likely,
 * same records + same seed = same split):
 *   splitSeeded     over an array held in memory: a seeded Fisher-Yates shuffle of the unsplit
 *                   indices (the built-in datasets use it; their fixed splits depend on it).
 *   StreamingSplit  as records stream, in O(1) memory: sequential selection sampling (Knuth's
 *                   Algorithm S): the k-th unsplit record goes to validation with probability
 *                   (slots left) / (records left), drawn from mulberry32(seed). It needs n, the
 *                   number of unsplit records, up front: `datasets import` gets it from a counting
 *                   pass over the file (parsing is ~2% of an import's cost; see lab/datasets.ts).
 *                   A hash-based Bernoulli draw per record would need no count but would not give
 *                   the exact fraction (a 20-record file at 0.25 could get 2 or 9 validation rows).
 * The two schemes give different (equally valid) splits for the same seed.
 * It does not tokenize or write.
 */
import type { LocatedRecord } from '../types';
import { mulberry32 } from '../random';
export { mulberry32 };

export interface SplitOptions {
  validationFraction: number;
  seed: number;
  trainName?: string;
  validationName?: string;
}

function checkSplitOptions(opts: SplitOptions): void {
  const f = opts.validationFraction;
  if (!(f >= 0 && f < 1)) throw new RangeError(`validationFraction must be in [0, 1), got ${f}`);
  if (!Number.isInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${opts.seed}`);
}

export function splitSeeded<R extends LocatedRecord>(records: readonly R[], opts: SplitOptions): R[] {
  checkSplitOptions(opts);
  const f = opts.validationFraction;
  const train = opts.trainName ?? 'train';
  const validation = opts.validationName ?? 'validation';
  const unsplit: number[] = [];
  records.forEach((r, i) => { if (r.split === undefined) unsplit.push(i); });
  const rand = mulberry32(opts.seed);
  for (let i = unsplit.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [unsplit[i], unsplit[j]] = [unsplit[j]!, unsplit[i]!];
  }
  const nVal = Math.round(f * unsplit.length);
  const toValidation = new Set(unsplit.slice(0, nVal));
  return records.map((r, i) => (r.split !== undefined ? r : { ...r, split: toValidation.has(i) ? validation : train }));
}

/** Assigns splits to a stream of records whose count of unsplit records (`unsplit`) is known. */
export class StreamingSplit {
  private readonly rand: () => number;
  private readonly train: string;
  private readonly validation: string;
  /** Unsplit records not yet seen, and validation slots not yet filled. */
  private left: number;
  private slots: number;

  constructor(unsplit: number, opts: SplitOptions) {
    checkSplitOptions(opts);
    if (!Number.isSafeInteger(unsplit) || unsplit < 0) throw new RangeError(`unsplit count must be a non-negative integer, got ${unsplit}`);
    this.rand = mulberry32(opts.seed);
    this.train = opts.trainName ?? 'train';
    this.validation = opts.validationName ?? 'validation';
    this.left = unsplit;
    this.slots = Math.round(opts.validationFraction * unsplit);
  }

  /** The split of the next record: its own if it has one, else train or validation. */
  next(given: string | undefined): string {
    if (given !== undefined) return given;
    // More unsplit records than announced (the file changed?): they go to train.
    if (this.left <= 0) return this.train;
    const v = this.rand() * this.left < this.slots;
    this.left--;
    if (v) this.slots--;
    return v ? this.validation : this.train;
  }

  /** The record with its split set (the same object when the source gave one). */
  assign<R extends LocatedRecord>(r: R): R {
    return r.split !== undefined ? r : { ...r, split: this.next(undefined) };
  }
}
