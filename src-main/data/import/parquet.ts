/**
 * parquet.ts: Parquet importer (hyparquet + hyparquet-compressors, pure JS) for the Hugging Face
 * hub layouts: SST-2 (sentence, label, idx), SQuAD (id, title, context, question,
 * answers{text[], answer_start[]}) and BookCorpus (text); other column names via
 * ImportOptions.columns. Reads one row group at a time (only the needed columns), so memory is
 * bounded by the largest row group. Any failure of the reader (truncated file, bad footer, corrupt
 * page) becomes a DataError naming the file (and the row range). Progress is reported per row
 * group in compressed bytes. It does not write Parquet.
 */
import { DataError, type LocatedRecord } from '../types';
import { asDataError, checkAborted, checkInputFile, type ImportOptions } from './common';
import { buildRecord, planColumns } from './records';

type Hyparquet = typeof import('hyparquet');
type Compressors = typeof import('hyparquet-compressors');

let libs: Promise<[Hyparquet, Compressors]> | undefined;
/** hyparquet is ESM-only; this CommonJS module loads it with a real dynamic import. */
function loadLibs(): Promise<[Hyparquet, Compressors]> {
  libs ??= Promise.all([import('hyparquet'), import('hyparquet-compressors')]);
  return libs;
}

export async function* importParquet(file: string, opts: ImportOptions): AsyncGenerator<LocatedRecord> {
  const size = await checkInputFile(file);
  const [hp, hc] = await loadLibs();
  let metadata: Awaited<ReturnType<Hyparquet['parquetMetadataAsync']>>;
  let buffer: Awaited<ReturnType<Hyparquet['asyncBufferFromFile']>>;
  try {
    buffer = await hp.asyncBufferFromFile(file);
    if (size < 12) throw new Error(`file too short for Parquet (${size} bytes)`);
    metadata = await hp.parquetMetadataAsync(buffer);
  } catch (err) {
    throw asDataError(err, { file }, 'not a valid Parquet file (truncated or corrupt?)');
  }
  const topLevel = hp.parquetSchema(metadata).children.map((c) => c.element.name);
  const plan = planColumns(opts, topLevel, { file });
  const columns = [...new Set(Object.values(plan))];
  let rowStart = 0;
  let bytes = 0;
  let count = 0;
  for (const rg of metadata.row_groups) {
    checkAborted(opts.signal, file);
    const n = Number(rg.num_rows);
    const rowEnd = rowStart + n;
    let rows: Record<string, unknown>[];
    try {
      rows = await hp.parquetReadObjects({ file: buffer, metadata, columns, rowStart, rowEnd, compressors: hc.compressors });
    } catch (err) {
      throw asDataError(err, { file, row: rowStart }, `cannot read rows ${rowStart}..${rowEnd - 1}`);
    }
    if (rows.length !== n) {
      throw new DataError({ file, row: rowStart }, `row group holds ${rows.length} rows, its metadata says ${n}`);
    }
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const at = { file, row: rowStart + i };
      count++;
      yield buildRecord(opts, plan, (c) => row[c], at, `${rowStart + i}`);
      if ((i & 1023) === 0) checkAborted(opts.signal, file);
    }
    bytes += Number(rg.total_byte_size ?? 0n);
    opts.onProgress?.(Math.min(bytes, size), size);
    rowStart = rowEnd;
  }
  if (count === 0) throw new DataError({ file }, 'no rows');
}
