/**
 * split.ts: a deterministic, seeded train/validation split for sources that give none. Records
 * that already carry a split keep it; the rest are assigned by a seeded shuffle so that exactly
 * round(validationFraction * n) of them go to "validation". Same records + same seed = same split.
 * It holds the records in memory (the caller streams into it); it does not tokenize or write.
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

export function splitSeeded<R extends LocatedRecord>(records: readonly R[], opts: SplitOptions): R[] {
  const f = opts.validationFraction;
  if (!(f >= 0 && f < 1)) throw new RangeError(`validationFraction must be in [0, 1), got ${f}`);
  if (!Number.isInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${opts.seed}`);
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
