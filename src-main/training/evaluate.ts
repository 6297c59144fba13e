/**
 * evaluate.ts: one evaluation pass of a trainer over a split, with each task's standard metrics:
 *   mlm             loss (mean over masked tokens), accuracy on masked tokens, perplexity
 *   classification  loss, accuracy, and F1 of label 1 when there are two labels
 *   qa              loss, SQuAD exact match and F1 (official normalisation) over whole examples
 * MLM evaluation masks with a fixed stream (seeded by the run, indexed by batch), and a capped
 * evaluation reads a fixed sample of rows, so every evaluation of a run sees the same examples and
 * masked tokens and curves are comparable across steps.
 * It runs no optimiser step and changes no weights (the engine's evaluate has no dropout).
 */
import type { Batch, NativeTrainer } from '../engine/types.js';
import type { QaRecord, SpecialTokens } from '../data/types.js';
import { Batcher, type Features } from '../data/tasks/batcher.js';
import { MlmMeter, mlmTransform } from '../data/tasks/mlm.js';
import { accuracy, argmaxRows, binaryF1 } from '../data/tasks/classification.js';
import { postprocessQa, splitQaLogits, squadScores, type QaFeatures } from '../data/tasks/qa.js';

export interface EvalSet {
  split: string;
  features: Features;
  /** qa: the records the windows come from (features are then QaFeatures). */
  qaRecords?: QaRecord[];
}

export interface EvalOptions {
  task: 'mlm' | 'classification' | 'qa';
  batchSize: number;
  /** At most this many batches (0: all). QA always evaluates every window of every example. */
  maxBatches: number;
  vocabSize: number;
  special: SpecialTokens;
  mlmProb: number;
  seed: number;
  numLabels: number;
}

export async function evaluateSplit(trainer: NativeTrainer, set: EvalSet, o: EvalOptions): Promise<Record<string, number>> {
  const transform =
    o.task === 'mlm'
      ? mlmTransform({ vocabSize: o.vocabSize, special: o.special, prob: o.mlmProb, seed: (o.seed ^ 0x5eed1e55) >>> 0 })
      : undefined;
  // A capped evaluation reads a fixed random sample of rows (the same at every evaluation of the
  // run), not the first rows: splits are often ordered (by label, by source document).
  const whole = o.task === 'qa' || o.maxBatches === 0;
  const batcher = new Batcher(set.features, {
    batchSize: o.batchSize,
    shuffle: !whole,
    seed: (o.seed ^ 0x0e7a1) >>> 0,
    ...(transform ? { transform } : {}),
  });
  const limit = whole ? batcher.batchesPerEpoch : Math.min(o.maxBatches, batcher.batchesPerEpoch);
  const order = batcher.order(0);

  if (o.task === 'mlm') {
    const meter = new MlmMeter();
    for (let i = 0; i < limit; i++) meter.add(await trainer.evaluate(batcher.batchAt(0, i, order)));
    const m = meter.summary();
    return { loss: m.loss, accuracy: m.accuracy, perplexity: m.perplexity, predictions: m.predictions };
  }

  let lossSum = 0;
  let rows = 0;
  const evalBatch = async (b: Batch): Promise<Float32Array> => {
    const r = await trainer.evaluate(b, { returnLogits: true });
    lossSum += r.loss * b.batchSize;
    rows += b.batchSize;
    if (!r.logits) throw new Error('engine returned no logits for evaluation');
    return r.logits;
  };

  if (o.task === 'classification') {
    const preds: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < limit; i++) {
      const b = batcher.batchAt(0, i, order);
      const logits = await evalBatch(b);
      preds.push(...argmaxRows(logits, o.numLabels));
      labels.push(...(b.labels ?? []));
    }
    const out: Record<string, number> = { loss: lossSum / rows, accuracy: accuracy(preds, labels), examples: preds.length };
    if (o.numLabels === 2) out['f1'] = binaryF1(preds, labels).f1;
    return out;
  }

  // qa: logits of every window, then n-best spans back to text per example.
  const f = set.features as QaFeatures;
  const T = f.seqLen;
  const start = new Float32Array(f.count * T);
  const end = new Float32Array(f.count * T);
  for (let i = 0; i < limit; i++) {
    const b = batcher.batchAt(0, i, order);
    const s = splitQaLogits(await evalBatch(b), b.batchSize, T);
    start.set(s.start, i * o.batchSize * T);
    end.set(s.end, i * o.batchSize * T);
  }
  const records = set.qaRecords ?? [];
  const version2 = records.some((r) => r.isImpossible);
  const preds = postprocessQa(records, f, start, end, { version2 });
  const scores = squadScores(records, new Map(preds.map((p) => [p.id, p.text])));
  return { loss: lossSum / rows, exact_match: scores.exactMatch, f1: scores.f1, examples: scores.count };
}
