/**
 * batcher.ts: turns a task's encoded rows (Features, as mlm.ts / classification.ts / qa.ts build
 * them) into engine Batch objects: row-major (B, T) Int32Arrays, rows shuffled per epoch with a
 * seeded permutation, and the next batches prepared ahead of time so the training loop never waits
 * on batch assembly.
 *
 * Why "ahead" and not a worker thread: the engine's step() runs on its native thread pool and
 * returns a Promise, so the JS thread is idle while a step trains. The queue builds the next
 * `prefetch` batches in that idle time (setImmediate), which keeps batch assembly off the training
 * threads without the cost of copying every feature array into a worker.
 *
 * It does not tokenize, mask or label anything itself: a per-task `transform` (e.g. MLM masking
 * from mlm.ts) is applied to each gathered batch.
 */
import type { Batch } from '../../engine/types.js';
import { mulberry32 } from '../random.js';
export { mulberry32 };

/** Encoded rows of one task, each array row-major (count, seqLen); per-row arrays are (count). */
export interface Features {
  count: number;
  seqLen: number;
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  attentionMask: Int32Array;
  /** classification: (count) label ids. */
  labels?: Int32Array;
  /** qa: (count) token index of the answer start / end (inclusive), 0 = [CLS] = no answer. */
  startPositions?: Int32Array;
  endPositions?: Int32Array;
}

/** Where a batch sits in the run: used to seed per-batch randomness (MLM masking). */
export interface BatchInfo {
  epoch: number;
  /** Index of the batch within its epoch. */
  index: number;
  /** epoch * batchesPerEpoch + index: unique for every batch of the run. */
  globalStep: number;
  /** The feature rows in this batch, in batch order. */
  rows: Int32Array;
}

export interface BatcherOptions {
  batchSize: number;
  /** Shuffle seed; the permutation of epoch e is a function of (seed, e) only. */
  seed?: number;
  /** Default true (training); evaluation wants false to keep rows in order. */
  shuffle?: boolean;
  /** Drop a last partial batch (default false: it is kept, smaller). */
  dropLast?: boolean;
  /** How many batches to keep ready ahead of the consumer (default 2). */
  prefetch?: number;
  /** Applied to each gathered batch, e.g. MLM masking (may modify the batch in place). */
  transform?: (batch: Batch, info: BatchInfo) => Batch;
}

/** The seeded Fisher-Yates permutation of 0..n-1 for one epoch. */
export function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  // Mix epoch into the seed (golden-ratio multiplier) so consecutive epochs differ thoroughly.
  const rand = mulberry32((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

/** Copies the given rows of `f` into a new Batch (fresh arrays: the transform may write them). */
export function gatherBatch(f: Features, rows: ArrayLike<number>): Batch {
  const B = rows.length;
  const T = f.seqLen;
  const inputIds = new Int32Array(B * T);
  const tokenTypeIds = new Int32Array(B * T);
  const attentionMask = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const r = rows[b]!;
    if (r < 0 || r >= f.count) throw new RangeError(`row ${r} outside [0, ${f.count})`);
    inputIds.set(f.inputIds.subarray(r * T, (r + 1) * T), b * T);
    tokenTypeIds.set(f.tokenTypeIds.subarray(r * T, (r + 1) * T), b * T);
    attentionMask.set(f.attentionMask.subarray(r * T, (r + 1) * T), b * T);
  }
  const batch: Batch = { batchSize: B, seqLen: T, inputIds, tokenTypeIds, attentionMask };
  const pick = (a: Int32Array): Int32Array => Int32Array.from(rows, (r) => a[r]!);
  if (f.labels) batch.labels = pick(f.labels);
  if (f.startPositions) batch.startPositions = pick(f.startPositions);
  if (f.endPositions) batch.endPositions = pick(f.endPositions);
  return batch;
}

export class Batcher {
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly prefetch: number;
  private readonly transform?: (batch: Batch, info: BatchInfo) => Batch;

  constructor(
    readonly features: Features,
    options: BatcherOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    this.batchSize = options.batchSize;
    this.seed = options.seed ?? 42;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? false;
    this.prefetch = Math.max(1, options.prefetch ?? 2);
    this.transform = options.transform;
  }

  get batchesPerEpoch(): number {
    const n = this.features.count;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The row order of an epoch (identity when not shuffling). */
  order(epoch: number): Int32Array {
    if (this.shuffle) return epochPermutation(this.features.count, this.seed, epoch);
    return Int32Array.from({ length: this.features.count }, (_, i) => i);
  }

  /** Builds batch `index` of `epoch` synchronously (deterministic: same inputs, same batch). */
  batchAt(epoch: number, index: number, order = this.order(epoch)): Batch {
    const per = this.batchesPerEpoch;
    if (index < 0 || index >= per) throw new RangeError(`batch ${index} outside [0, ${per})`);
    const rows = order.subarray(index * this.batchSize, Math.min((index + 1) * this.batchSize, order.length));
    const batch = gatherBatch(this.features, rows);
    const info: BatchInfo = { epoch, index, globalStep: epoch * per + index, rows: Int32Array.from(rows) };
    return this.transform ? this.transform(batch, info) : batch;
  }

  /**
   * The batches of one epoch, `prefetch` of them always being prepared ahead: while the consumer
   * awaits its engine step, the next batches are assembled in the event loop's idle time.
   */
  async *epoch(epoch: number): AsyncGenerator<Batch, void, undefined> {
    const order = this.order(epoch);
    const total = this.batchesPerEpoch;
    const ready: Array<Promise<Batch>> = [];
    let next = 0;
    const schedule = (): void => {
      while (ready.length < this.prefetch && next < total) {
        const i = next++;
        const p = new Promise<Batch>((resolve, reject) => {
          setImmediate(() => {
            try {
              resolve(this.batchAt(epoch, i, order));
            } catch (err) {
              reject(err);
            }
          });
        });
        // A batch that fails while still queued must not become an unhandled rejection; the error
        // is rethrown when the consumer reaches it.
        p.catch(() => undefined);
        ready.push(p);
      }
    };
    schedule();
    while (ready.length > 0) {
      const batch = await ready.shift()!;
      schedule(); // refill before handing the batch over, so building overlaps the consumer's step
      yield batch;
    }
  }
}
