/**
 * task-data.ts: what training needs from a lab dataset: engine-ready Features of one split, built
 * from the token cache (no re-tokenization), plus the vocabulary size, special ids and labels.
 *   mlm             text datasets: each record's ids, joined into [CLS] ... [SEP] blocks
 *                   (buildMlmBlocks); masking happens per batch (mlmTransformFor / mlmTransform)
 *   classification  [CLS] text [SEP] (pair [SEP]) truncated longest-first and padded: the same
 *                   rows encodeClassification builds from the records (buildClassificationFeatures)
 *   qa              question + context windows with doc_stride and start/end labels: the same
 *                   windows prepareQaFeatures builds (buildQaFeatures), plus the split's records
 *                   for post-processing and EM/F1
 * It needs only (dataDir, dataset row or name, options) and reads files only (dataset.json,
 * tokens.bin, records.jsonl for QA); of tokens.bin it keeps only the sections the dataset's task
 * uses (TASK_SECTIONS: MLM needs ids, bounds and splits, not the offsets, which are 2/3 of the
 * file), the rest is read only to verify the checksum: it never opens the database, so the run host can call it from
 * its child process. It does not batch, mask or train.
 */
import * as path from 'node:path';
import { readTokenCache, type SectionName, type TokenCacheArrays, type TokenCacheHeader } from '../data/cache/token-cache.js';
import type { Features } from '../data/tasks/batcher.js';
import { buildClassificationFeatures } from '../data/tasks/classification.js';
import { buildMlmBlocks, mlmTransform, type MlmMaskFn } from '../data/tasks/mlm.js';
import { buildQaFeatures, type QaEncodedExample, type QaFeatures } from '../data/tasks/qa.js';
import { DataError, type DatasetKind, type QaRecord, type SpecialTokens } from '../data/types.js';
import type { DatasetRow } from '../store/types.js';
import { datasetDir, readManifest, readRecordsJsonl, RECORDS_FILE, TOKENS_FILE, type DatasetManifest } from './dataset-files.js';

export type Task = 'mlm' | 'classification' | 'qa';

/** The dataset kind each task trains on. */
export const TASK_KIND: Record<Task, DatasetKind> = { mlm: 'text', classification: 'classification', qa: 'qa' };

export interface TaskDataOptions {
  task: Task;
  /** e.g. "train", "validation". */
  split: string;
  maxSeqLen: number;
  /** qa: context tokens shared by consecutive windows (default 128). */
  docStride?: number | undefined;
  /** qa: questions are cut to this many tokens (default 64). */
  maxQueryLength?: number | undefined;
  /** mlm: drop a last partial block (default false). */
  dropLast?: boolean | undefined;
}

export interface TaskData {
  task: Task;
  dataset: string;
  split: string;
  /** qa: QaFeatures (exampleIndex and offsets index `records`). */
  features: Features;
  /** qa: the split's records, in the order exampleIndex refers to. */
  records?: QaRecord[];
  /** classification: the labels in id order; [] otherwise. */
  labelSet: string[];
  numLabels: number;
  vocabSize: number;
  special: SpecialTokens;
  /** The tokenizer the cache was built with (lab name or path). */
  tokenizer: string;
}

/** The token cache sections each dataset kind's task reads. */
export const TASK_SECTIONS: Record<DatasetKind, readonly SectionName[]> = {
  text: ['ids', 'bounds', 'splits'],
  classification: ['ids', 'bounds', 'pairStart', 'labels', 'splits'],
  qa: ['ids', 'offsets', 'bounds', 'pairStart', 'splits', 'answerBounds', 'answerSpans', 'impossible'],
};

/** A dataset's manifest and token cache (the sections its task needs), read once; taskData()
 *  builds any split from it. */
export interface OpenedDataset {
  dir: string;
  manifest: DatasetManifest;
  cache: { header: TokenCacheHeader; arrays: Partial<TokenCacheArrays> };
}

function section(d: OpenedDataset, s: SectionName): Int32Array {
  const a = d.cache.arrays[s];
  if (!a) throw new Error(`dataset "${d.manifest.name}": token cache section ${s} was not read`);
  return a;
}

export async function openDataset(dataDir: string, dataset: DatasetRow | string): Promise<OpenedDataset> {
  const dir = typeof dataset === 'string' ? datasetDir(dataDir, dataset) : dataset.dir;
  const manifest = readManifest(dir);
  const file = path.join(dir, TOKENS_FILE);
  const cache = await readTokenCache(file, { sections: TASK_SECTIONS[manifest.kind] ?? [] });
  if (cache.header.sha256 !== manifest.sha256 || cache.header.numRecords !== manifest.numRecords) {
    throw new DataError({ file }, `does not match ${path.join(dir, 'dataset.json')} (checksum or record count differs)`);
  }
  return { dir, manifest, cache };
}

/** Record indices of one split, in dataset order. */
function splitIndices(d: OpenedDataset, split: string): number[] {
  const s = d.cache.header.splits.indexOf(split);
  if (s < 0) {
    throw new Error(`dataset "${d.manifest.name}" has no split "${split}" (has: ${d.cache.header.splits.join(', ')})`);
  }
  const out: number[] = [];
  section(d, 'splits').forEach((v, i) => v === s && out.push(i));
  return out;
}

export async function taskData(d: OpenedDataset, opts: TaskDataOptions): Promise<TaskData> {
  const m = d.manifest;
  if (TASK_KIND[opts.task] !== m.kind) {
    throw new Error(`task ${opts.task} needs a ${TASK_KIND[opts.task]} dataset; "${m.name}" is ${m.kind}`);
  }
  const ids = section(d, 'ids');
  const bounds = section(d, 'bounds');
  const special = m.tokenizer.special;
  const rows = splitIndices(d, opts.split);
  const base = {
    task: opts.task, dataset: m.name, split: opts.split, labelSet: m.labelSet, numLabels: m.labelSet.length,
    vocabSize: m.tokenizer.vocabSize, special, tokenizer: m.tokenizer.name,
  };
  if (opts.task === 'mlm') {
    const docs = rows.map((i) => ids.subarray(bounds[i]!, bounds[i + 1]!));
    return { ...base, features: buildMlmBlocks(docs, { maxSeqLen: opts.maxSeqLen, special, dropLast: opts.dropLast ?? false }) };
  }
  if (opts.task === 'classification') {
    const pairStart = section(d, 'pairStart');
    const labels = section(d, 'labels');
    const empty = new Set(m.emptyPairs);
    const examples = rows.map((i) => {
      const pair = pairStart[i]! < bounds[i + 1]! || empty.has(i) ? ids.subarray(pairStart[i]!, bounds[i + 1]!) : undefined;
      return { text: ids.subarray(bounds[i]!, pairStart[i]!), ...(pair ? { pair } : {}), label: labels[i]! };
    });
    return { ...base, features: buildClassificationFeatures(examples, special, opts.maxSeqLen) };
  }
  const [offsets, pairStart, answerBounds, answerSpans, impossible] =
    (['offsets', 'pairStart', 'answerBounds', 'answerSpans', 'impossible'] as const).map((s) => section(d, s)) as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  const part = (from: number, to: number): { ids: Int32Array; offsets: Int32Array } => ({
    ids: ids.subarray(from, to), offsets: offsets.subarray(2 * from, 2 * to),
  });
  const examples = rows.map((i): QaEncodedExample => {
    const a = answerBounds[i]!;
    const answer = impossible[i] === 0 && answerBounds[i + 1]! > a ? { start: answerSpans[2 * a]!, end: answerSpans[2 * a + 1]! } : null;
    return { question: part(bounds[i]!, pairStart[i]!), context: part(pairStart[i]!, bounds[i + 1]!), answer };
  });
  const features: QaFeatures = buildQaFeatures(examples, special, {
    maxSeqLen: opts.maxSeqLen,
    ...(opts.docStride !== undefined ? { docStride: opts.docStride } : {}),
    ...(opts.maxQueryLength !== undefined ? { maxQueryLength: opts.maxQueryLength } : {}),
  });
  const records: QaRecord[] = [];
  for await (const r of readRecordsJsonl(path.join(d.dir, RECORDS_FILE), { split: opts.split })) records.push(r.record as QaRecord);
  if (records.length !== rows.length) {
    throw new DataError({ file: path.join(d.dir, RECORDS_FILE) }, `${records.length} records in split ${opts.split}, the token cache has ${rows.length}`);
  }
  return { ...base, features, records };
}

/** One split's task data, straight from the lab data directory (reads the cache once). */
export async function loadTaskData(dataDir: string, dataset: DatasetRow | string, opts: TaskDataOptions): Promise<TaskData> {
  return taskData(await openDataset(dataDir, dataset), opts);
}

/** The batch transform that masks MLM batches for this data (fresh masks per batch and epoch). */
export function mlmTransformFor(data: Pick<TaskData, 'vocabSize' | 'special'>, o: { prob?: number; seed?: number | bigint; mask?: MlmMaskFn } = {}) {
  return mlmTransform({ vocabSize: data.vocabSize, special: data.special, ...o });
}
