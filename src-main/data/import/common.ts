/**
 * common.ts: what every importer shares: the options (columns, labels, progress, cancellation),
 * the check that a path is a readable, non-empty regular file, and the cancellation error.
 * It does not parse anything and does not decide formats (see detect.ts).
 */
import * as fs from 'node:fs';
import { DataError, type DatasetKind, type SourceLocation } from '../types';

/** Column (or JSON field) names; each is optional and falls back to the usual names. */
export interface ColumnNames {
  text?: string | undefined;
  textPair?: string | undefined;
  label?: string | undefined;
  /** QA fields (JSONL / Parquet flat layouts). */
  id?: string | undefined;
  question?: string | undefined;
  context?: string | undefined;
  answers?: string | undefined;
  /** A column holding a given split name ("train", "validation"), if the source has one. */
  split?: string | undefined;
}

export interface ImportOptions {
  kind: DatasetKind;
  columns?: ColumnNames | undefined;
  /** Declared label set (classification): any other label is an error naming the place. */
  labels?: readonly string[] | undefined;
  /** txt: 'line' (default) = one document per line; 'paragraph' = blank-line separated. */
  textUnit?: 'line' | 'paragraph' | undefined;
  /** CSV/TSV: whether the first row is a header (default true). */
  header?: boolean | undefined;
  /** Called as bytes are consumed (Parquet: per row group). */
  onProgress?: ((bytesRead: number, totalBytes: number) => void) | undefined;
  /** Non-fatal notes, e.g. a stripped byte-order mark. */
  onNote?: ((at: SourceLocation, note: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Thrown when the AbortSignal fires: "import cancelled: <file>". */
export class ImportCancelledError extends Error {
  constructor(readonly file: string) {
    super(`import cancelled: ${file}`);
    this.name = 'ImportCancelledError';
  }
}

export function checkAborted(signal: AbortSignal | undefined, file: string): void {
  if (signal?.aborted) throw new ImportCancelledError(file);
}

/** Stats `file`: it must exist, be a regular file and not be empty. Returns its size in bytes. */
export async function checkInputFile(file: string): Promise<number> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError({ file }, 'no such file');
    throw new DataError({ file }, `cannot read: ${(err as Error).message}`);
  }
  if (st.isDirectory()) throw new DataError({ file }, 'is a directory, not a data file');
  if (!st.isFile()) throw new DataError({ file }, 'is not a regular file');
  if (st.size === 0) throw new DataError({ file }, 'file is empty');
  return st.size;
}

/** Wraps an unexpected exception from a parser library as a DataError at `at`. */
export function asDataError(err: unknown, at: SourceLocation, what: string): Error {
  if (err instanceof DataError || err instanceof ImportCancelledError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new DataError(at, `${what}: ${msg}`);
}
