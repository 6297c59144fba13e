/**
 * dataset-files.ts: the on-disk layout of a lab dataset and its small readers and writers.
 *
 *   <dataDir>/datasets/<name>/
 *     dataset.json    the manifest (DatasetManifest): what the DB row holds, plus the tokenizer's
 *                     vocabulary size and special ids, so training needs no database
 *     records.jsonl   the parsed records in cache order, one JSON object per line: the record's
 *                     fields plus "split" (so a dataset can be re-tokenized with another tokenizer)
 *     tokens.bin      the token cache (data/cache/token-cache.ts)
 *     tokenizer/      a copy of the tokenizer it was built with (vocab.txt, tokenizer.json)
 *
 * Also the name rule shared by datasets and tokenizers. It opens no database and tokenizes
 * nothing; creating and removing datasets is datasets.ts's job.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { AtomicDirCancelledError } from '../data/cache/atomic-dir.js';
import { DataError, type DatasetKind, type DatasetRecord, type LocatedRecord, type SpecialTokens } from '../data/types.js';

export const MANIFEST_FILE = 'dataset.json';
export const RECORDS_FILE = 'records.jsonl';
export const TOKENS_FILE = 'tokens.bin';
export const TOKENIZER_SUBDIR = 'tokenizer';

const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

/** Throws unless `name` is a valid lab name: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
export function checkLabName(name: string, what: string): string {
  if (!NAME_RE.test(name)) {
    throw new Error(`invalid ${what} name "${name}": use 1-64 of A-Z a-z 0-9 . _ - (not starting with ".")`);
  }
  return name;
}

/** A valid dataset name derived from a file path ("data/SST-2 train.tsv" -> "SST-2-train"). */
export function nameFromPath(file: string): string {
  const base = path.basename(file).replace(/\.[^.]*$/, '');
  const clean = base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '').slice(0, 64).replace(/-+$/, '');
  return clean === '' ? 'dataset' : clean;
}

export function datasetsDir(dataDir: string): string {
  return path.join(dataDir, 'datasets');
}

export function datasetDir(dataDir: string, name: string): string {
  return path.join(datasetsDir(dataDir), checkLabName(name, 'dataset'));
}

export interface ManifestTokenizer {
  /** A lab tokenizer name, or the absolute path it was loaded from. */
  name: string;
  vocabSize: number;
  special: SpecialTokens;
}

export interface DatasetManifest {
  version: 1;
  name: string;
  kind: DatasetKind;
  source: string;
  format: string;
  builtin: boolean;
  createdAt: number;
  numRecords: number;
  numTokens: number;
  splits: Record<string, number>;
  labelSet: string[];
  stats: Record<string, unknown>;
  /** sha256 of the token cache body (as the header of tokens.bin). */
  sha256: string;
  tokenizer: ManifestTokenizer;
  /** Classification records whose text pair exists but has no tokens (the cache alone cannot tell
   *  them from records without a pair; encodeClassification still frames them with a [SEP]). */
  emptyPairs: number[];
}

export function writeManifest(dir: string, m: DatasetManifest): void {
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(m, null, 2) + '\n');
}

export function readManifest(dir: string): DatasetManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let m: DatasetManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as DatasetManifest;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError({ file }, code === 'ENOENT' ? 'no such file (not a lab dataset directory?)' : `cannot read: ${(err as Error).message}`);
  }
  if (m === null || typeof m !== 'object' || m.version !== 1 || typeof m.name !== 'string' || !m.tokenizer) {
    throw new DataError({ file }, 'not a version-1 dataset manifest');
  }
  return m;
}

/** Writes records as JSON Lines ({...record, split}), in order, in ~1 MB writes. */
export async function writeRecordsJsonl(file: string, records: readonly LocatedRecord[], signal?: AbortSignal): Promise<number> {
  const fh = await fs.promises.open(file, 'wx');
  let bytes = 0;
  try {
    let chunk: string[] = [];
    let len = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const buf = Buffer.from(chunk.join(''), 'utf8');
      await fh.write(buf);
      bytes += buf.length;
      chunk = [];
      len = 0;
    };
    for (const r of records) {
      const line = JSON.stringify({ ...r.record, split: r.split ?? 'train' }) + '\n';
      chunk.push(line);
      len += line.length;
      if (len >= 1 << 20) {
        if (signal?.aborted) throw new AtomicDirCancelledError(path.dirname(file));
        await flush();
      }
    }
    await flush();
  } finally {
    await fh.close();
  }
  return bytes;
}

/** Appends records to records.jsonl as they stream ({...record, split}), in ~1 MB writes. */
export class RecordsJsonlWriter {
  private chunk: string[] = [];
  private len = 0;
  private fd: number;
  bytes = 0;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'wx');
  }
  add(r: LocatedRecord): void {
    const line = JSON.stringify({ ...r.record, split: r.split ?? 'train' }) + '\n';
    this.chunk.push(line);
    this.len += line.length;
    if (this.len >= 1 << 20) this.flush();
  }
  flush(): void {
    if (this.chunk.length === 0) return;
    const buf = Buffer.from(this.chunk.join(''), 'utf8');
    let o = 0;
    while (o < buf.length) o += fs.writeSync(this.fd, buf, o, buf.length - o);
    this.bytes += buf.length;
    this.chunk = [];
    this.len = 0;
  }
  /** Flushes and closes; returns the bytes written. Safe to call twice. */
  close(): number {
    if (this.fd >= 0) {
      try { this.flush(); } finally { fs.closeSync(this.fd); this.fd = -1; }
    }
    return this.bytes;
  }
  /** Closes without flushing (an import that failed: its folder is removed anyway). */
  discard(): void {
    if (this.fd >= 0) { fs.closeSync(this.fd); this.fd = -1; }
  }
}

export interface StoredRecord {
  record: DatasetRecord;
  split: string;
  /** Position in the dataset (= the token cache's record index). */
  index: number;
}

/** Streams records.jsonl, optionally only one split's records. */
export async function* readRecordsJsonl(file: string, opts: { split?: string } = {}): AsyncGenerator<StoredRecord> {
  const rl = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let index = 0;
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      if (text === '') continue;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(text) as Record<string, unknown>;
      } catch (err) {
        throw new DataError({ file, line }, `invalid JSON: ${(err as Error).message}`);
      }
      const { split, ...record } = o;
      if (opts.split === undefined || split === opts.split) {
        yield { record: record as unknown as DatasetRecord, split: String(split), index };
      }
      index++;
    }
  } finally {
    rl.close();
  }
}

/** Bytes of each file in a dataset directory (sub-folders summed), for `datasets show`. */
export function dirFiles(dir: string): { name: string; bytes: number }[] {
  if (!fs.existsSync(dir)) return [];
  const size = (p: string): number => {
    const st = fs.statSync(p);
    return st.isDirectory() ? fs.readdirSync(p).reduce((s, n) => s + size(path.join(p, n)), 0) : st.size;
  };
  return fs.readdirSync(dir).sort().map((name) => ({ name, bytes: size(path.join(dir, name)) }));
}
