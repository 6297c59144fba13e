/**
 * datasets.ts: the dataset service every shell calls (CLI today, later the server and Electron):
 * import a local file (txt, jsonl, csv/tsv, parquet, squad) as a text, classification or qa
 * dataset, list, show and remove datasets, and prepare the built-in ones.
 *
 * An import streams the file twice with bounded memory (data/import/, errors name the file and
 * line / row / JSON path): a counting pass (records, records without a split, label counts: the
 * exact seeded split and the sorted label set need them before the first record is written;
 * parsing is ~100x faster than tokenizing, so it costs a few percent), then the import pass,
 * which keeps the splits the source gives, assigns the rest as they stream (StreamingSplit:
 * exactly round(fraction * n) to validation, seeded), and feeds createDataset (dataset-create.ts:
 * records.jsonl and the chunked token cache, committed atomically before the database row): bad
 * input or cancellation leaves nothing. Memory does not grow with the file (multi-gigabyte
 * corpora import in well under 100 MB of JS heap). It does not build training features
 * (task-data.ts) or train tokenizers other than the built-in default (tokenizers.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { leftoverTempDirs } from '../data/cache/atomic-dir.js';
import { checkInputFile, ImportCancelledError, type ColumnNames } from '../data/import/common.js';
import { detectFormat, type ImportFormat } from '../data/import/detect.js';
import { importRecords, StreamingSplit } from '../data/import/importer.js';
import { trainWordPiece } from '../data/tokenizer/train.js';
import { DataError, formatLocation, type DatasetKind, type LocatedRecord, type TextRecord } from '../data/types.js';
import type { DatasetRow, LabStore } from '../store/types.js';
import { BUILTIN_SPECS } from './builtins.js';
import { checkDatasetFree, createDataset, type DatasetProgress } from './dataset-create.js';
import { checkLabName, datasetDir, dirFiles, nameFromPath, readManifest, type DatasetManifest } from './dataset-files.js';
import { DEFAULT_TOKENIZER, DEFAULT_VOCAB_SIZE, resolveTokenizer, saveLabTokenizer, tokenizerExists } from './tokenizers.js';

export type { DatasetProgress } from './dataset-create.js';

export interface ImportDatasetOptions {
  path: string;
  kind: DatasetKind;
  /** Default: the file name without extension, cleaned up. */
  name?: string | undefined;
  format?: ImportFormat | 'auto' | undefined;
  columns?: ColumnNames | undefined;
  /** Declared label set (classification), in id order; default: the labels found, sorted. */
  labels?: readonly string[] | undefined;
  textUnit?: 'line' | 'paragraph' | undefined;
  /** Fraction of records without a given split that go to "validation" (default 0.1). */
  validationFraction?: number | undefined;
  seed?: number | undefined;
  /** A lab tokenizer name or a path to vocab.txt / tokenizer.json (default builtin-wp8k). */
  tokenizer?: string | undefined;
  onProgress?: ((p: DatasetProgress) => void) | undefined;
  /** Non-fatal notes ("data.tsv: line 1: byte-order mark stripped"). */
  onNote?: ((note: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Labels sorted: numerically when all are numbers ("0" < "1" < "10"), else by code units. */
export function sortLabels(labels: Iterable<string>): string[] {
  const u = [...new Set(labels)];
  const numeric = u.every((l) => l.trim() !== '' && Number.isFinite(Number(l)));
  return numeric ? u.sort((a, b) => Number(a) - Number(b)) : u.sort();
}

export async function importDataset(store: LabStore, dataDir: string, opts: ImportDatasetOptions): Promise<DatasetRow> {
  const file = path.resolve(opts.path);
  const name = checkLabName(opts.name ?? nameFromPath(file), 'dataset');
  const validationFraction = opts.validationFraction ?? 0.1;
  const seed = opts.seed ?? 42;
  if (!(validationFraction >= 0 && validationFraction < 1)) throw new Error(`validation fraction must be in [0, 1), got ${validationFraction}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  checkDatasetFree(store, dataDir, name);
  const bytes = await checkInputFile(file);
  const format = await detectFormat(file, opts.format ?? 'auto');
  const tokenizer = resolveTokenizer(dataDir, opts.tokenizer ?? DEFAULT_TOKENIZER);
  const notes: string[] = [];
  const t0 = Date.now();
  const parseOpts = {
    kind: opts.kind, format, columns: opts.columns, labels: opts.labels, textUnit: opts.textUnit, signal: opts.signal,
  };
  // Pass 1: count (progress in bytes: the "read" phase; notes are kept for pass 2).
  let total = 0;
  let unsplit = 0;
  const counts: Record<string, number> = {};
  for await (const r of importRecords(file, {
    ...parseOpts,
    onProgress: (done, all) => opts.onProgress?.({ dataset: name, phase: 'read', done, total: all, unit: 'bytes' }),
  })) {
    total++;
    if (r.split === undefined) unsplit++;
    if (r.record.kind === 'classification') counts[r.record.label] = (counts[r.record.label] ?? 0) + 1;
  }
  const given = total - unsplit;
  const stats: Record<string, unknown> = {
    file, bytes, validationFraction, seed, notes, readSeconds: (Date.now() - t0) / 1000,
    splitGiven: given === 0 ? 'none' : given === total ? 'all' : 'some',
    splitMethod: 'sequential selection (exact count, seeded)',
  };
  let labelSet: string[] = [];
  if (opts.kind === 'classification') {
    labelSet = opts.labels ? [...opts.labels] : sortLabels(Object.keys(counts));
    stats['labelCounts'] = counts;
    if (Object.keys(counts).length < 2) {
      const n = `${file}: only one label (${Object.keys(counts).join('')}) in ${total} records`;
      notes.push(n);
      opts.onNote?.(n);
    }
  }
  // Pass 2: the same records again, split as they stream, into the dataset.
  const split = new StreamingSplit(unsplit, { validationFraction, seed });
  async function* records(): AsyncGenerator<LocatedRecord> {
    let seen = 0;
    for await (const r of importRecords(file, {
      ...parseOpts,
      onNote: (at, note) => {
        const line = `${formatLocation(at)}: ${note}`;
        notes.push(line);
        opts.onNote?.(line);
      },
    })) {
      seen++;
      yield split.assign(r);
    }
    if (seen !== total) throw new DataError({ file }, `changed during the import (${total} records, then ${seen})`);
  }
  return createDataset(store, dataDir, {
    name, kind: opts.kind, source: file, format, builtin: false, records: records(), numRecords: total, tokenizer, labelSet, stats,
    signal: opts.signal, onProgress: opts.onProgress,
  });
}

export function listDatasets(store: LabStore): DatasetRow[] {
  return store.datasets.list().sort((a, b) => a.name.localeCompare(b.name));
}

export interface DatasetDetails {
  row: DatasetRow;
  manifest?: DatasetManifest;
  files: { name: string; bytes: number }[];
  /** What is wrong, if anything (missing directory, manifest and row disagree). */
  problems: string[];
}

export function showDataset(store: LabStore, name: string): DatasetDetails {
  const row = store.datasets.get(name);
  if (!row) throw new Error(`no dataset "${name}" (see 'lshlab datasets list')`);
  const problems: string[] = [];
  let manifest: DatasetManifest | undefined;
  if (!fs.existsSync(row.dir)) problems.push(`${row.dir}: directory missing`);
  else {
    try {
      manifest = readManifest(row.dir);
      if (manifest.sha256 !== row.sha256) problems.push(`${row.dir}: token cache checksum differs from the database's`);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return { row, ...(manifest ? { manifest } : {}), files: dirFiles(row.dir), problems };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp folders of `target` left by processes that no longer run. */
function removeStaleTemps(target: string): void {
  for (const t of leftoverTempDirs(target)) {
    const pid = Number(/\.tmp-(\d+)-/.exec(path.basename(t))?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) fs.rmSync(t, { recursive: true, force: true });
  }
}

/** Removes the row and the directory (either may be missing: a half-removed dataset). */
export function removeDataset(store: LabStore, dataDir: string, name: string): { row: boolean; dir: string | null } {
  const row = store.datasets.get(name);
  const dir = row?.dir ?? datasetDir(dataDir, name);
  const hadDir = fs.existsSync(dir);
  if (!row && !hadDir) throw new Error(`no dataset "${name}" (see 'lshlab datasets list')`);
  if (hadDir) fs.rmSync(dir, { recursive: true, force: true });
  removeStaleTemps(dir);
  const removed = row ? store.datasets.remove(name) : false;
  return { row: removed, dir: hadDir ? dir : null };
}

export interface AddBuiltinsOptions {
  onProgress?: ((p: DatasetProgress) => void) | undefined;
  onNote?: ((note: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface AddBuiltinsResult {
  created: DatasetRow[];
  /** Already there (nothing done). */
  existing: string[];
  tokenizer: { name: string; created: boolean };
  seconds: number;
}

/** Prepares builtin-text, builtin-spam, builtin-qa and the tokenizer builtin-wp8k, each only if
 *  missing (a second run does nothing). A half-made built-in (row without folder or the reverse)
 *  is removed and made again. */
export async function addBuiltins(store: LabStore, dataDir: string, opts: AddBuiltinsOptions = {}): Promise<AddBuiltinsResult> {
  const t0 = Date.now();
  const existing: string[] = [];
  const missing = BUILTIN_SPECS.filter((spec) => {
    const row = store.datasets.get(spec.name);
    const dir = datasetDir(dataDir, spec.name);
    removeStaleTemps(dir);
    let ok = row !== undefined && fs.existsSync(dir);
    if (ok) {
      try { readManifest(dir); } catch { ok = false; }
    }
    if (ok) { existing.push(spec.name); return false; }
    if (row || fs.existsSync(dir)) {
      opts.onNote?.(`${spec.name}: incomplete (database row ${row ? 'present' : 'missing'}, folder ${fs.existsSync(dir) ? 'present' : 'missing'}): making it again`);
      removeDataset(store, dataDir, spec.name);
    }
    return true;
  });
  const haveTokenizer = tokenizerExists(dataDir, DEFAULT_TOKENIZER);
  const progress = (dataset: string, phase: DatasetProgress['phase']): void =>
    opts.onProgress?.({ dataset, phase, done: 0, total: 1, unit: 'steps' });
  const recordsOf = new Map<string, LocatedRecord[]>();
  if (!haveTokenizer) {
    progress('builtin-text', 'read');
    const text = BUILTIN_SPECS[0]!.records();
    recordsOf.set('builtin-text', text);
    progress(DEFAULT_TOKENIZER, 'train-tokenizer');
    const train = text.filter((r) => r.split === 'train').map((r) => (r.record as TextRecord).text);
    const tok = await trainWordPiece(train, { vocabSize: DEFAULT_VOCAB_SIZE, minFrequency: 2, source: 'builtin-text (split train)' });
    if (opts.signal?.aborted) throw new ImportCancelledError('built-in datasets');
    await saveLabTokenizer(dataDir, DEFAULT_TOKENIZER, tok, { trainedOn: 'dataset builtin-text (split train)', minFrequency: 2 });
  }
  const tokenizer = resolveTokenizer(dataDir, DEFAULT_TOKENIZER);
  const created: DatasetRow[] = [];
  for (const spec of missing) {
    if (opts.signal?.aborted) throw new ImportCancelledError('built-in datasets');
    progress(spec.name, spec.kind === 'qa' ? 'generate' : 'read');
    const tr = Date.now();
    const records = recordsOf.get(spec.name) ?? spec.records();
    recordsOf.delete(spec.name);
    created.push(await createDataset(store, dataDir, {
      name: spec.name, kind: spec.kind, source: spec.source, format: 'builtin', builtin: true, records, tokenizer,
      labelSet: spec.labelSet, stats: { ...spec.stats, readSeconds: (Date.now() - tr) / 1000 },
      signal: opts.signal, onProgress: opts.onProgress,
    }));
  }
  return { created, existing, tokenizer: { name: DEFAULT_TOKENIZER, created: !haveTokenizer }, seconds: (Date.now() - t0) / 1000 };
}
