/**
 * mlm.ts: the masked-LM pretraining pipeline: documents' token ids concatenated and cut into
 * blocks of max_seq_len ([CLS] ... [SEP]), BERT masking (15%, 80/10/10) through the engine's own
 * Philox-seeded mlmMask so masking is reproducible and identical to the engine's, fresh for every
 * batch of every epoch; and the metrics (loss, masked-token accuracy, perplexity).
 *
 * Block construction (a choice, documented): documents are joined into one stream with a [SEP]
 * between consecutive documents; the stream is cut into chunks of max_seq_len - 2 tokens and each
 * chunk is wrapped as [CLS] chunk [SEP]. Unlike HF's run_mlm group_texts (which concatenates
 * "[CLS] doc [SEP]" sequences and cuts blindly, so most blocks start mid-sentence without [CLS]),
 * every block here has BERT's [CLS] ... [SEP] frame the classification/QA heads see later; a
 * separator that would open a chunk is dropped (it separates nothing there). The last partial
 * block is kept and padded (attention mask 0) unless dropLast (group_texts drops it).
 *
 * It does not tokenize (callers pass Encodings or id arrays) and does not train.
 */
import type { Batch } from '../../engine/types.js';
import { loadEngine } from '../../engine/index.js';
import type { SpecialTokens } from '../types.js';
import type { BatchInfo, Features } from './batcher.js';

export interface MlmBlockOptions {
  maxSeqLen: number;
  special: SpecialTokens;
  /** Drop a last block shorter than maxSeqLen (default false: keep it, padded). */
  dropLast?: boolean;
}

/** Concatenates documents and cuts them into [CLS] ... [SEP] blocks (see the header). */
export function buildMlmBlocks(docs: Iterable<ArrayLike<number>>, opts: MlmBlockOptions): Features {
  const T = opts.maxSeqLen;
  if (!Number.isInteger(T) || T < 3) throw new RangeError(`maxSeqLen must be an integer >= 3, got ${T}`);
  const { cls, sep, pad } = opts.special;
  const body = T - 2;
  const blocks: Int32Array[] = [];
  const lengths: number[] = [];
  let cur = new Int32Array(T);
  let n = 0; // tokens in the current chunk's body
  const flush = (): void => {
    cur[0] = cls;
    cur[n + 1] = sep;
    for (let i = n + 2; i < T; i++) cur[i] = pad;
    blocks.push(cur);
    lengths.push(n + 2);
    cur = new Int32Array(T);
    n = 0;
  };
  const push = (id: number): void => {
    cur[1 + n++] = id;
    if (n === body) flush();
  };
  let first = true;
  for (const doc of docs) {
    if (doc.length === 0) continue;
    if (!first && n > 0) push(sep); // between documents; never at the start of a chunk
    first = false;
    for (let i = 0; i < doc.length; i++) push(doc[i]!);
  }
  if (n > 0 && !opts.dropLast) flush();

  const count = blocks.length;
  const inputIds = new Int32Array(count * T);
  const attentionMask = new Int32Array(count * T);
  for (let b = 0; b < count; b++) {
    inputIds.set(blocks[b]!, b * T);
    attentionMask.fill(1, b * T, b * T + lengths[b]!);
  }
  return { count, seqLen: T, inputIds, tokenTypeIds: new Int32Array(count * T), attentionMask };
}

/** The engine's masking function's signature (injectable so callers can stub it). */
export type MlmMaskFn = (
  inputIds: Int32Array,
  labels: Int32Array,
  attentionMask: Int32Array | null,
  batchSize: number,
  seqLen: number,
  options: { vocabSize: number; maskId: number; specialIds?: ArrayLike<number>; prob?: number; seed?: number | bigint; step?: number },
) => void;

export interface MlmMaskingOptions {
  vocabSize: number;
  special: SpecialTokens;
  /** Masking probability (default 0.15). */
  prob?: number;
  seed?: number | bigint;
  /** Defaults to the native engine's mlmMask (loaded on first use). */
  mask?: MlmMaskFn;
}

/**
 * Masks a batch in place and sets its labels ((B,T), -100 where not predicted). `step` selects
 * the Philox stream position: pass a counter unique to each batch of the run (BatchInfo.globalStep)
 * so that every epoch sees fresh masks and a rerun with the same seed sees the same ones.
 */
export function maskBatch(batch: Batch, step: number, opts: MlmMaskingOptions): Batch {
  const mask = opts.mask ?? ((...a: Parameters<MlmMaskFn>) => loadEngine().mlmMask(...a));
  const labels = new Int32Array(batch.batchSize * batch.seqLen);
  const s = opts.special;
  mask(batch.inputIds, labels, batch.attentionMask ?? null, batch.batchSize, batch.seqLen, {
    vocabSize: opts.vocabSize,
    maskId: s.mask,
    // As HF's collator (all_special_ids): [UNK] and [MASK] are never prediction targets either.
    specialIds: [s.pad, s.unk, s.cls, s.sep, s.mask],
    prob: opts.prob ?? 0.15,
    seed: opts.seed ?? 42,
    step,
  });
  batch.labels = labels;
  return batch;
}

/** A Batcher transform that masks each batch with its global step (fresh per batch and epoch). */
export function mlmTransform(opts: MlmMaskingOptions): (batch: Batch, info: BatchInfo) => Batch {
  return (batch, info) => maskBatch(batch, info.globalStep, opts);
}

/** Running MLM metrics over evaluation (or training) batches. */
export class MlmMeter {
  private lossSum = 0;
  private predictions = 0;
  private correct = 0;

  /** `loss` is the batch's mean cross-entropy over its `predictions` masked tokens. */
  add(r: { loss: number; predictions: number; correct: number }): void {
    if (r.predictions <= 0) return; // a batch with nothing masked carries no loss information
    this.lossSum += r.loss * r.predictions; // weight by tokens: the mean over all masked tokens
    this.predictions += r.predictions;
    this.correct += r.correct;
  }

  summary(): MlmMetrics {
    return mlmMetrics(this.predictions ? this.lossSum / this.predictions : NaN, this.predictions, this.correct);
  }
}

export interface MlmMetrics {
  loss: number;
  /** Accuracy on masked tokens only. */
  accuracy: number;
  perplexity: number;
  predictions: number;
}

export function mlmMetrics(loss: number, predictions: number, correct: number): MlmMetrics {
  return {
    loss,
    accuracy: predictions > 0 ? correct / predictions : NaN,
    perplexity: Math.exp(loss),
    predictions,
  };
}
