/**
 * classification.ts: the sentence(-pair) classification pipeline (SST-2 and the like): records
 * encoded as [CLS] a [SEP] (b [SEP]) with token type ids 0 for the first segment (its [CLS] and
 * [SEP] included) and 1 for the second, truncated longest-first as Hugging Face does, padded to
 * max_seq_len, labels mapped to ids through a declared label list; and the metrics: accuracy, and
 * F1 of one (configurable) positive class for two-class tasks.
 *
 * It does not import or validate datasets (labels outside the list are an error here too, but the
 * importer is where the user gets a file and line) and does not batch (batcher.ts does).
 */
import { DataError, type ClassificationRecord, type SpecialTokens, type WordPieceTokenizer } from '../types.js';
import type { Features } from './batcher.js';

export interface ClassificationOptions {
  maxSeqLen: number;
  /** The label set in id order: labels[i] gets id i. */
  labels: readonly string[];
}

/**
 * How many tokens of a and b survive Hugging Face's longest_first truncation to `budget` tokens:
 * one token at a time from the longer sequence, from the second one on ties. Closed form of that
 * loop: the first keeps ceil(budget/2) and the second floor(budget/2) unless one is shorter.
 */
export function longestFirst(lenA: number, lenB: number, budget: number): [number, number] {
  if (lenA + lenB <= budget) return [lenA, lenB];
  const halfA = Math.ceil(budget / 2);
  const halfB = budget - halfA;
  if (lenA <= halfA) return [lenA, budget - lenA];
  if (lenB <= halfB) return [budget - lenB, lenB];
  return [halfA, halfB];
}

/** Lays out one example into row `r` of the feature arrays. */
function writeRow(
  f: Features,
  r: number,
  a: Int32Array,
  b: Int32Array | undefined,
  cls: number,
  sep: number,
  pad: number,
): void {
  const T = f.seqLen;
  const budget = T - (b ? 3 : 2);
  const [na, nb] = b ? longestFirst(a.length, b.length, budget) : [Math.min(a.length, budget), 0];
  const o = r * T;
  let p = o;
  f.inputIds[p++] = cls;
  f.inputIds.set(a.subarray(0, na), p);
  p += na;
  f.inputIds[p++] = sep;
  if (b) {
    const segB = p;
    f.inputIds.set(b.subarray(0, nb), p);
    p += nb;
    f.inputIds[p++] = sep;
    f.tokenTypeIds.fill(1, segB, p);
  }
  f.attentionMask.fill(1, o, p);
  f.inputIds.fill(pad, p, o + T);
}

/** One pre-tokenized example (e.g. from the token cache): text ids, optional pair ids, label id. */
export interface ClassificationIdsExample {
  text: Int32Array;
  pair?: Int32Array;
  label: number;
}

/** The padded features of pre-tokenized examples: the rows encodeClassification builds. */
export function buildClassificationFeatures(
  examples: readonly ClassificationIdsExample[],
  special: SpecialTokens,
  maxSeqLen: number,
): Features {
  const T = maxSeqLen;
  const hasPair = examples.some((x) => x.pair !== undefined);
  if (!Number.isInteger(T) || T < (hasPair ? 3 : 2)) throw new RangeError(`maxSeqLen too small: ${T}`);
  const count = examples.length;
  const f: Features = {
    count,
    seqLen: T,
    inputIds: new Int32Array(count * T),
    tokenTypeIds: new Int32Array(count * T),
    attentionMask: new Int32Array(count * T),
    labels: new Int32Array(count),
  };
  const { cls, sep, pad } = special;
  examples.forEach((x, i) => {
    f.labels![i] = x.label;
    writeRow(f, i, x.text, x.pair, cls, sep, pad);
  });
  return f;
}

/** Encodes classification records into padded features (one row per record, in order). */
export async function encodeClassification(
  records: readonly ClassificationRecord[],
  tokenizer: WordPieceTokenizer,
  opts: ClassificationOptions,
): Promise<Features> {
  const T = opts.maxSeqLen;
  const hasPair = records.some((r) => r.textPair !== undefined);
  if (!Number.isInteger(T) || T < (hasPair ? 3 : 2)) throw new RangeError(`maxSeqLen too small: ${T}`);
  const labelId = new Map(opts.labels.map((l, i) => [l, i] as const));
  if (labelId.size !== opts.labels.length) throw new Error(`duplicate labels in [${opts.labels.join(', ')}]`);
  const encA = await tokenizer.encodeBatch(records.map((r) => r.text));
  const pairIdx: number[] = [];
  records.forEach((r, i) => r.textPair !== undefined && pairIdx.push(i));
  const encB = await tokenizer.encodeBatch(pairIdx.map((i) => records[i]!.textPair!));
  const bOf = new Map(pairIdx.map((i, k) => [i, encB[k]!.ids] as const));
  const examples = records.map((r, i): ClassificationIdsExample => {
    const id = labelId.get(r.label);
    if (id === undefined) {
      throw new DataError({ file: '(records)', row: i }, `label "${r.label}" is not one of [${opts.labels.join(', ')}]`);
    }
    const pair = bOf.get(i);
    return { text: encA[i]!.ids, ...(pair ? { pair } : {}), label: id };
  });
  return buildClassificationFeatures(examples, tokenizer.special, T);
}

/** Row-wise argmax of (B, numLabels) logits, as the engine's evaluate() returns them. */
export function argmaxRows(logits: Float32Array, numLabels: number): Int32Array {
  const B = Math.floor(logits.length / numLabels);
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let best = 0;
    for (let k = 1; k < numLabels; k++) if (logits[b * numLabels + k]! > logits[b * numLabels + best]!) best = k;
    out[b] = best;
  }
  return out;
}

export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predictions.length !== labels.length) throw new RangeError('predictions and labels differ in length');
  if (labels.length === 0) return NaN;
  let c = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) c++;
  return c / labels.length;
}

export interface BinaryF1 {
  precision: number;
  recall: number;
  f1: number;
}

/** F1 of class `positive` (default 1, as GLUE's SST-2/MRPC scoring); 0 when undefined (no tp). */
export function binaryF1(predictions: ArrayLike<number>, labels: ArrayLike<number>, positive = 1): BinaryF1 {
  if (predictions.length !== labels.length) throw new RangeError('predictions and labels differ in length');
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = predictions[i] === positive;
    const g = labels[i] === positive;
    if (p && g) tp++;
    else if (p) fp++;
    else if (g) fn++;
  }
  // sklearn's convention (zero_division=0): a ratio with an empty denominator counts as 0.
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}
