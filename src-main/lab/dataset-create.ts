/**
 * dataset-create.ts: the one way a dataset enters the lab, shared by `datasets import` and
 * `datasets add-builtin`: given parsed records (splits assigned; an array or a stream) and a
 * tokenizer, it streams them once: each record goes to records.jsonl and to the token cache
 * writer (streamTokenCache: chunked, bounded memory, tokenized by a worker pool when the input
 * is larger than one chunk and the tokenizer has files to load from), then writes a copy of the
 * tokenizer and the manifest into a temporary folder, renames it to <dataDir>/datasets/<name>/
 * (withAtomicDir), and only then inserts the database row; if the insert fails the folder is
 * removed again. A failure or cancellation at any point leaves no folder, no temp folder and no
 * row. Memory: one chunk of records in flight per worker, plus the manifest's emptyPairs list.
 * It does not parse files (data/import/) or decide splits (datasets.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withAtomicDir } from '../data/cache/atomic-dir.js';
import { workerEncoder, tokenizeWorkers } from '../data/cache/encode-pool.js';
import { CHUNK_RECORDS, inlineEncoder, streamTokenCache, type ChunkEncoder, type TokenCacheHeader } from '../data/cache/token-cache.js';
import type { DatasetKind, LocatedRecord } from '../data/types.js';
import type { DatasetRow, LabStore } from '../store/types.js';
import {
  checkLabName, datasetDir, RECORDS_FILE, RecordsJsonlWriter, TOKENIZER_SUBDIR, TOKENS_FILE, writeManifest,
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
  /** Every record with its split set, in dataset order (read once). */
  records: readonly LocatedRecord[] | AsyncIterable<LocatedRecord>;
  /** How many records `records` holds, when it is a stream (progress, and the choice of encoder). */
  numRecords?: number | undefined;
  /** 'auto' (default): worker threads (encode-pool.ts) for more than one chunk of records, else
   *  this thread; 'inline' / 'workers' force one (tests). */
  encoder?: 'auto' | 'inline' | 'workers' | undefined;
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
  const { tokenizer: tk, name } = input;
  const progress = (phase: DatasetPhase, done: number, total: number, unit: DatasetProgress['unit']): void =>
    input.onProgress?.({ dataset: name, phase, done, total, unit });
  const t0 = Date.now();
  const total = Array.isArray(input.records) ? input.records.length : input.numRecords;
  const manifest = await withAtomicDir(target, async (tmp) => {
    const splits: Record<string, number> = {};
    const tokensPerSplit: Record<string, number> = {};
    const emptyPairs: number[] = [];
    let maxTokens = 0;
    const jsonl = new RecordsJsonlWriter(path.join(tmp, RECORDS_FILE));
    const encoder = chooseEncoder(input.encoder ?? 'auto', tk, total);
    let header: TokenCacheHeader;
    let recordBytes: number;
    try {
      header = await streamTokenCache(input.records, encoder, { name, kind: input.kind, tokenizer: tk.name, labelSet: input.labelSet }, path.join(tmp, TOKENS_FILE), {
        scratchDir: tmp,
        totalRecords: total,
        signal: input.signal,
        onProgress: (done, all) => progress('tokenize', done, all, 'records'),
        onRecord: (t) => {
          jsonl.add(t.record);
          splits[t.split] = (splits[t.split] ?? 0) + 1;
          tokensPerSplit[t.split] = (tokensPerSplit[t.split] ?? 0) + t.tokens;
          maxTokens = Math.max(maxTokens, t.tokens);
          if (t.record.record.kind === 'classification' && t.hasSecond && t.secondTokens === 0) emptyPairs.push(t.index);
        },
      });
      recordBytes = jsonl.close();
    } finally {
      jsonl.discard();
      await encoder.close();
    }
    const tTok = Date.now();
    progress('write', 0, 1, 'steps');
    await tk.tokenizer.save(path.join(tmp, TOKENIZER_SUBDIR));
    const n = header.numRecords;
    const m: DatasetManifest = {
      version: 1, name, kind: input.kind, source: input.source, format: input.format, builtin: input.builtin,
      createdAt: Date.now(), numRecords: header.numRecords, numTokens: header.numTokens, splits,
      labelSet: header.labelSet, sha256: header.sha256,
      stats: {
        ...input.stats,
        tokensPerSplit,
        meanTokensPerRecord: n ? header.numTokens / n : 0,
        maxTokensPerRecord: maxTokens,
        recordsBytes: recordBytes,
        tokenizeSeconds: (tTok - t0) / 1000,
        tokenizeWorkers: encoder.workers,
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

/** Worker threads pay off only past one chunk, and need a tokenizer they can load from files. */
function chooseEncoder(mode: 'auto' | 'inline' | 'workers', tk: ResolvedTokenizer, total: number | undefined): ChunkEncoder & { workers: number } {
  const n = mode === 'inline' ? 0 : mode === 'workers' ? Math.max(2, tokenizeWorkers()) : tokenizeWorkers();
  const big = mode === 'workers' || total === undefined || total > CHUNK_RECORDS;
  if (n >= 2 && big && tk.path) {
    try {
      return { ...workerEncoder(tk.path, n), workers: n };
    } catch {
      // No worker threads here (e.g. a packaged build without the worker script): one thread.
    }
  }
  return { ...inlineEncoder(tk.tokenizer), workers: 1 };
}
