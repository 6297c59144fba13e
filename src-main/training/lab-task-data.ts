/**
 * lab-task-data.ts: a lab dataset as the training loop wants it: the 'train' split to learn from
 * and an evaluation split ('validation', else the first other split the dataset has, else none:
 * the run then trains without evaluations and says so in its status). Features come from the
 * dataset's token cache (lab/task-data.ts); nothing is tokenized again and the database is not
 * opened (this runs in the training process).
 */
import { openDataset, taskData } from '../lab/task-data.js';
import type { TaskData } from './loop.js';
import type { RunSpec } from './spec.js';

export async function loadLabTaskData(dataDir: string, spec: RunSpec): Promise<TaskData> {
  const d = await openDataset(dataDir, spec.dataset);
  const splits = d.cache.header.splits;
  if (!splits.includes('train')) throw new Error(`dataset "${spec.dataset}" has no train split (has: ${splits.join(', ')})`);
  // QA questions are cut to 64 tokens (as run_qa.py at 384), at most half a shorter window, so
  // that short-sequence models still get context tokens in every window.
  const T = spec.model.maxSeqLen;
  const opts = { task: spec.task, maxSeqLen: T, docStride: spec.docStride, maxQueryLength: Math.min(64, Math.floor(T / 2)) };
  const train = await taskData(d, { ...opts, split: 'train' });
  const evalSplit = splits.includes('validation') ? 'validation' : splits.find((s) => s !== 'train');
  const ev = evalSplit !== undefined ? await taskData(d, { ...opts, split: evalSplit }) : undefined;
  if (train.features.count === 0) throw new Error(`dataset "${spec.dataset}": the train split has no rows for task ${spec.task}`);
  return {
    train: { split: 'train', features: train.features },
    ...(ev && ev.features.count > 0 ? { evaluation: { split: ev.split, features: ev.features, ...(ev.records ? { qaRecords: ev.records } : {}) } } : {}),
    vocabSize: train.vocabSize,
    numLabels: train.numLabels,
    special: train.special,
  };
}
