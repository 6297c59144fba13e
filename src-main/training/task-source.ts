/**
 * task-source.ts: the data a run trains on, as the training loop wants it (TaskData): engine-ready
 * features of the training split and of the evaluation split, the vocabulary size, the special
 * token ids and the number of labels.
 *
 * Two sources:
 *   a lab dataset by name   tokenized once at import (lab/task-data.ts builds the features)
 *   "synthetic:random"      uniformly random token blocks for masked-LM: the workload of
 *                           `lshlab bench train`, for throughput runs and for the run host's own
 *                           tests; it has no meaning to learn beyond token frequencies
 * It reads files only (never the database), so it runs inside the training process.
 */
import type { SpecialTokens } from '../data/types.js';
import type { Features } from '../data/tasks/batcher.js';
import { mulberry32 } from '../data/random.js';
import type { TaskData } from './loop.js';
import { loadLabTaskData } from './lab-task-data.js';
import { dataSeedOf, type RunSpec } from './spec.js';

export const SYNTHETIC_RANDOM = 'synthetic:random';
const SYNTH_VOCAB = 1000;
const SYNTH_SPECIAL: SpecialTokens = { pad: 0, unk: 100, cls: 101, sep: 102, mask: 103 };

function randomBlocks(count: number, T: number, seed: number): Features {
  const rand = mulberry32(seed);
  const inputIds = new Int32Array(count * T);
  for (let i = 0; i < inputIds.length; i++) inputIds[i] = 104 + Math.floor(rand() * (SYNTH_VOCAB - 104));
  for (let r = 0; r < count; r++) {
    inputIds[r * T] = SYNTH_SPECIAL.cls;
    inputIds[r * T + T - 1] = SYNTH_SPECIAL.sep;
  }
  return { count, seqLen: T, inputIds, tokenTypeIds: new Int32Array(count * T), attentionMask: new Int32Array(count * T).fill(1) };
}

function syntheticData(spec: RunSpec): TaskData {
  if (spec.task !== 'mlm') throw new Error(`dataset ${SYNTHETIC_RANDOM} is for task mlm only (got ${spec.task})`);
  const T = spec.model.maxSeqLen;
  const seed = dataSeedOf(spec);
  return {
    train: { split: 'train', features: randomBlocks(Math.max(64, 4 * spec.batchSize), T, seed) },
    evaluation: { split: 'validation', features: randomBlocks(Math.max(16, spec.batchSize), T, seed ^ 0x7f4a7c15) },
    vocabSize: SYNTH_VOCAB,
    numLabels: 2,
    special: SYNTH_SPECIAL,
  };
}

export async function loadRunData(dataDir: string, spec: RunSpec): Promise<TaskData> {
  if (spec.dataset === SYNTHETIC_RANDOM) return syntheticData(spec);
  return loadLabTaskData(dataDir, spec);
}
