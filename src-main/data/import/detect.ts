/**
 * detect.ts: picks an input format from the file extension and a sniff of the first 64 KiB:
 * Parquet magic "PAR1", SQuAD JSON ({"data": [... "paragraphs" ...]}), JSON Lines (each line an
 * object), TSV (tabs), CSV (commas), else plain text. `auto` refuses what it cannot name: binary
 * content, JSON that is neither SQuAD nor JSONL, and an extension that contradicts the content
 * (e.g. x.csv holding Parquet, x.parquet holding text). It does not parse the whole file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../types';
import { checkInputFile } from './common';

export type ImportFormat = 'txt' | 'jsonl' | 'csv' | 'tsv' | 'parquet' | 'squad';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['txt', 'jsonl', 'csv', 'tsv', 'parquet', 'squad'];

const BY_EXTENSION: Record<string, ImportFormat> = {
  '.txt': 'txt', '.text': 'txt',
  '.jsonl': 'jsonl', '.ndjson': 'jsonl',
  '.csv': 'csv', '.tsv': 'tsv',
  '.parquet': 'parquet', '.pq': 'parquet',
  '.json': 'squad',
};

const SNIFF_BYTES = 64 * 1024;

/** Guesses the format from the first bytes alone (undefined: cannot tell). */
export function sniffFormat(head: Buffer): ImportFormat | 'binary' | 'json' | undefined {
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'PAR1') return 'parquet';
  let b = head;
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
  const sample = b.subarray(0, Math.min(b.length, 4096));
  let control = 0;
  for (const c of sample) {
    if (c === 0) return 'binary';
    if (c < 0x09 || (c > 0x0d && c < 0x20)) control++;
  }
  if (control > sample.length / 20) return 'binary';
  const text = b.toString('utf8');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    if (/^\{\s*"(version|data)"/.test(trimmed) && /"paragraphs"\s*:/.test(trimmed)) return 'squad';
    if (/"data"\s*:\s*\[/.test(trimmed) && /"paragraphs"/.test(trimmed)) return 'squad';
    const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== '');
    const complete = lines.length > 1 ? lines.slice(0, -1) : lines;
    const ok = complete.length > 0 && complete.every((l) => {
      try { const v: unknown = JSON.parse(l); return v !== null && typeof v === 'object' && !Array.isArray(v); }
      catch { return false; }
    });
    return ok ? 'jsonl' : 'json';
  }
  if (trimmed.startsWith('[')) return 'json';
  const firstLine = text.split('\n', 1)[0] ?? '';
  if (firstLine.includes('\t')) return 'tsv';
  if (firstLine.includes(',') && /^[^,]*,/.test(firstLine) && text.split('\n').length > 1) return 'csv';
  return 'txt';
}

/** Resolves `auto` (or checks an explicit format exists). Errors name the file. */
export async function detectFormat(file: string, requested: ImportFormat | 'auto' = 'auto'): Promise<ImportFormat> {
  if (requested !== 'auto') {
    if (!IMPORT_FORMATS.includes(requested)) throw new DataError({ file }, `unknown format "${String(requested)}"`);
    return requested;
  }
  await checkInputFile(file);
  const head = Buffer.alloc(SNIFF_BYTES);
  const fh = await fs.promises.open(file, 'r');
  let n: number;
  try {
    n = (await fh.read(head, 0, SNIFF_BYTES, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  const sniffed = sniffFormat(head.subarray(0, n));
  const ext = path.extname(file).toLowerCase();
  const byExt = BY_EXTENSION[ext];
  const name = (f: string): string => (f === 'json' ? 'JSON that is neither SQuAD nor JSON Lines' : f === 'binary' ? 'binary data' : f);
  if (byExt === undefined) {
    if (ext !== '' && ext !== '.dat') {
      if (sniffed === 'parquet' || sniffed === 'squad' || sniffed === 'jsonl') return sniffed;
      throw new DataError({ file }, `unknown format: extension "${ext}" is not one of ${Object.keys(BY_EXTENSION).join(' ')}; pass --format`);
    }
    if (sniffed === undefined || sniffed === 'binary' || sniffed === 'json') {
      throw new DataError({ file }, `unknown format: content looks like ${name(sniffed ?? 'nothing known')}; pass --format`);
    }
    return sniffed;
  }
  if (sniffed === 'binary' || sniffed === 'json') {
    if (byExt === 'parquet' && sniffed === 'binary') {
      throw new DataError({ file }, 'mixed format: extension .parquet but no "PAR1" magic at the start');
    }
    throw new DataError({ file }, `mixed format: extension ${ext} (${byExt}) but the content looks like ${name(sniffed)}`);
  }
  // Text formats are loose about each other (a .txt may contain commas); only clear conflicts fail.
  const textual = new Set<string>(['txt', 'csv', 'tsv']);
  if (byExt === sniffed || (textual.has(byExt) && textual.has(sniffed ?? 'txt'))) return byExt;
  if (byExt === 'squad' && sniffed === 'jsonl') return 'jsonl';
  throw new DataError({ file }, `mixed format: extension ${ext} (${byExt}) but the content looks like ${name(sniffed ?? 'unknown')}`);
}
