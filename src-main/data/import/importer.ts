/**
 * importer.ts: the importer library's entry point: importRecords(path, options) resolves the
 * format (detect.ts; `auto` by default), checks the path, and yields LocatedRecord from the
 * per-format module (txt, jsonl, csv/tsv, parquet, squad), with progress and cancellation. It
 * also re-exports splitSeeded. It writes nothing: tokenizing and caching are cache/'s job, the
 * run store and the CLI come later.
 */
import type { LocatedRecord } from '../types';
import { checkAborted, checkInputFile, type ImportOptions } from './common';
import { importDelimited } from './delimited';
import { detectFormat, type ImportFormat } from './detect';
import { importJsonl } from './jsonl';
import { importParquet } from './parquet';
import { importSquad } from './squad';
import { importTxt } from './txt';

export { splitSeeded, StreamingSplit, type SplitOptions } from './split';
export { ImportCancelledError, type ColumnNames, type ImportOptions } from './common';
export type { ImportFormat } from './detect';

export interface ImportRecordsOptions extends ImportOptions {
  format?: ImportFormat | 'auto' | undefined;
}

export async function* importRecords(file: string, opts: ImportRecordsOptions): AsyncGenerator<LocatedRecord> {
  checkAborted(opts.signal, file);
  await checkInputFile(file);
  const format = await detectFormat(file, opts.format ?? 'auto');
  switch (format) {
    case 'txt': yield* importTxt(file, opts); break;
    case 'jsonl': yield* importJsonl(file, opts); break;
    case 'csv': yield* importDelimited(file, 'csv', opts); break;
    case 'tsv': yield* importDelimited(file, 'tsv', opts); break;
    case 'parquet': yield* importParquet(file, opts); break;
    case 'squad': yield* importSquad(file, opts); break;
  }
}

/** Collects every record (small inputs and tests; large inputs should be consumed as a stream). */
export async function collectRecords(file: string, opts: ImportRecordsOptions): Promise<LocatedRecord[]> {
  const out: LocatedRecord[] = [];
  for await (const r of importRecords(file, opts)) out.push(r);
  return out;
}
