/**
 * dataset-create.ts: the one way a dataset enters the lab, shared by `datasets import` and
 * `datasets add-builtin`: given parsed records (splits assigned) and a tokenizer, it writes
 * records.jsonl, the token cache, a copy of the tokenizer and the manifest into a temporary
 * folder, renames it to <dataDir>/datasets/<name>/ (withAtomicDir), and only then inserts the
 * database row; if the insert fails the folder is removed again. A failure or cancellation at
 * any point leaves no folder, no temp folder and no row.
 * It does not parse files (data/import/) or decide splits (datasets.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withAtomicDir } from '../data/cache/atomic-dir.js';
import { buildTokenCache, writeTokenCache } from '../data/cache/token-cache.js';
import type { DatasetKind, LocatedRecord } from '../data/types.js';
import type { DatasetRow, LabStore } from '../store/types.js';
import {
  checkLabName, datasetDir, RECORDS_FILE, TOKENIZER_SUBDIR, TOKENS_FILE, writeManifest, writeRecordsJsonl,
  type DatasetManifest,
} from './dataset-files.js';
import type { ResolvedTokenizer } from './tokenizers.js';

export type DatasetPhase = 'read' | 'generate' | 'train-tokenizer' | 'tokenize' | 'write';

/** Progress of one dataset's preparation: `done` of `total` in `unit`. */
export interface DatasetProgress {
  dataset: string;
  phase: DatasetPhase;
  done: number;
  total: number;
  unit: 'bytes' | 'records' | 'steps';
}

export interface CreateDatasetInput {
  name: string;
  kind: DatasetKind;
  source: string;
  format: string;
  builtin: boolean;
  /** Every record with its split set. */
  records: readonly LocatedRecord[];
  tokenizer: ResolvedTokenizer;
  /** Classification: the labels in id order. */
  labelSet: readonly string[];
  stats: Record<string, unknown>;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: DatasetProgress) => void) | undefined;
}

/** Throws if the name is taken in the database or on disk (an orphan folder is named as such). */
export function checkDatasetFree(store: LabStore, dataDir: string, name: string): string {
  checkLabName(name, 'dataset');
  const dir = datasetDir(dataDir, name);
  if (store.datasets.get(name)) throw new Error(`dataset "${name}" already exists (see 'lshlab datasets show ${name}'); pass --name`);
  if (fs.existsSync(dir)) {
    throw new Error(`${dir} exists but is not in the lab database (left by an interrupted import?): ` +
      `remove it with 'lshlab datasets rm ${name}'`);
  }
  return dir;
}

export async function createDataset(store: LabStore, dataDir: string, input: CreateDatasetInput): Promise<DatasetRow> {
  const target = checkDatasetFree(store, dataDir, input.name);
  const { records, tokenizer: tk, name } = input;
  const progress = (phase: DatasetPhase, done: number, total: number, unit: DatasetProgress['unit']): void =>
    input.onProgress?.({ dataset: name, phase, done, total, unit });
  const t0 = Date.now();
  const manifest = await withAtomicDir(target, async (tmp) => {
    const cache = await buildTokenCache(records, tk.tokenizer, { name, kind: input.kind, tokenizer: tk.name, labelSet: input.labelSet }, {
      signal: input.signal,
      onProgress: (done, total) => progress('tokenize', done, total, 'records'),
    });
    const tTok = Date.now();
    progress('write', 0, 1, 'steps');
    const recordBytes = await writeRecordsJsonl(path.join(tmp, RECORDS_FILE), records, input.signal);
    const header = await writeTokenCache(path.join(tmp, TOKENS_FILE), cache);
    await tk.tokenizer.save(path.join(tmp, TOKENIZER_SUBDIR));
    const { bounds, pairStart } = cache.arrays;
    const splits: Record<string, number> = {};
    const tokensPerSplit: Record<string, number> = {};
    const emptyPairs: number[] = [];
    let maxTokens = 0;
    records.forEach((r, i) => {
      const s = r.split ?? 'train';
      const n = bounds[i + 1]! - bounds[i]!;
      splits[s] = (splits[s] ?? 0) + 1;
      tokensPerSplit[s] = (tokensPerSplit[s] ?? 0) + n;
      maxTokens = Math.max(maxTokens, n);
      if (r.record.kind === 'classification' && r.record.textPair !== undefined && pairStart[i] === bounds[i + 1]) emptyPairs.push(i);
    });
    const m: DatasetManifest = {
      version: 1, name, kind: input.kind, source: input.source, format: input.format, builtin: input.builtin,
      createdAt: Date.now(), numRecords: header.numRecords, numTokens: header.numTokens, splits,
      labelSet: header.labelSet, sha256: header.sha256,
      stats: {
        ...input.stats,
        tokensPerSplit,
        meanTokensPerRecord: records.length ? header.numTokens / records.length : 0,
        maxTokensPerRecord: maxTokens,
        recordsBytes: recordBytes,
        tokenizeSeconds: (tTok - t0) / 1000,
        writeSeconds: (Date.now() - tTok) / 1000,
      },
      tokenizer: { name: tk.name, vocabSize: tk.tokenizer.vocabSize, special: tk.tokenizer.special },
      emptyPairs,
    };
    if (input.labelSet.length > 0 && header.labelSet.length !== input.labelSet.length) {
      throw new Error(`${name}: records carry labels outside the label set {${input.labelSet.join(', ')}}`);
    }
    writeManifest(tmp, m);
    return m;
  }, { signal: input.signal });
  try {
    return store.datasets.insert({
      name, kind: manifest.kind, source: manifest.source, format: manifest.format, dir: target,
      tokenizer: manifest.tokenizer.name, numRecords: manifest.numRecords, numTokens: manifest.numTokens,
      splits: manifest.splits, labelSet: manifest.labelSet, stats: manifest.stats, sha256: manifest.sha256,
      builtin: manifest.builtin,
    });
  } catch (err) {
    fs.rmSync(target, { recursive: true, force: true });
    throw err;
  }
}
