/**
 * delimited.ts: CSV (RFC 4180: quoted fields, "" escapes, quoted newlines) and TSV (GLUE layout:
 * tab-separated, no quoting, e.g. SST-2's `sentence<TAB>label` with a header) importers. The
 * header row names the columns (chosen by ImportOptions.columns, else the usual names); with
 * header: false, the columns are "0", "1", ... . A row whose field count differs from the header's
 * is an error naming its line. Streams with bounded memory (see lines.ts). Quoted CSV newlines are
 * normalised to "\n". It does not guess delimiters (see detect.ts).
 */
import { DataError, type LocatedRecord } from '../types';
import { checkInputFile, type ImportOptions } from './common';
import { readLines } from './lines';
import { buildRecord, planColumns, type ColumnPlan } from './records';

/** One logical row with the line it starts on. */
interface Row {
  fields: string[];
  line: number;
}

/** Splits CSV lines into rows (RFC 4180), joining lines while a quoted field is open. */
async function* csvRows(lines: AsyncIterable<{ text: string; line: number }>, file: string): AsyncGenerator<Row> {
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let afterQuote = false;
  let startLine = 0;
  for await (const { text, line } of lines) {
    if (!inQuotes) {
      if (text === '') continue; // blank line between records
      startLine = line;
      fields = [];
      field = '';
      afterQuote = false;
    } else {
      field += '\n';
    }
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (inQuotes) {
        if (ch === '"') {
          if (text[i + 1] === '"') { field += '"'; i++; }
          else { inQuotes = false; afterQuote = true; }
        } else field += ch;
      } else if (ch === ',') {
        fields.push(field);
        field = '';
        afterQuote = false;
      } else if (afterQuote) {
        throw new DataError({ file, line }, `unexpected character ${JSON.stringify(ch)} after a closing quote`);
      } else if (ch === '"') {
        if (field !== '') throw new DataError({ file, line }, 'a quote inside an unquoted field (RFC 4180 needs the field quoted)');
        inQuotes = true;
      } else field += ch;
    }
    if (!inQuotes) {
      fields.push(field);
      yield { fields, line: startLine };
    }
  }
  if (inQuotes) throw new DataError({ file, line: startLine }, 'unterminated quoted field');
}

async function* tsvRows(lines: AsyncIterable<{ text: string; line: number }>): AsyncGenerator<Row> {
  for await (const { text, line } of lines) {
    if (text === '') continue;
    yield { fields: text.split('\t'), line };
  }
}

export async function* importDelimited(
  file: string,
  delimiter: 'csv' | 'tsv',
  opts: ImportOptions,
): AsyncGenerator<LocatedRecord> {
  const size = await checkInputFile(file);
  const lines = readLines(file, size, opts);
  const rows = delimiter === 'csv' ? csvRows(lines, file) : tsvRows(lines);
  const hasHeader = opts.header ?? true;
  let names: string[] | undefined;
  let plan: ColumnPlan | undefined;
  let count = 0;
  for await (const { fields, line } of rows) {
    const at = { file, line };
    if (names === undefined) {
      if (hasHeader) {
        names = fields.map((f) => f.trim());
        const dup = names.find((n, i) => names!.indexOf(n) !== i);
        if (dup !== undefined) throw new DataError(at, `duplicate column "${dup}" in the header`);
        plan = planColumns(opts, names, at);
        continue;
      }
      names = fields.map((_, i) => String(i));
      plan = planColumns(opts, names, at);
    }
    if (fields.length !== names.length) {
      throw new DataError(at, `expected ${names.length} columns, found ${fields.length}`);
    }
    count++;
    const idx = names;
    yield buildRecord(opts, plan!, (n) => fields[idx.indexOf(n)], at, `${line}`);
  }
  if (names === undefined) throw new DataError({ file }, 'no rows: the file holds only blank lines');
  if (count === 0) throw new DataError({ file }, 'no records: the file has a header but no data rows');
}
