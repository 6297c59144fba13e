/**
 * txt.ts: plain-text importer for the 'text' kind: one document per line (default) or blank-line
 * separated paragraphs (textUnit: 'paragraph'; the lines of a paragraph are joined with "\n").
 * Whitespace-only lines are skipped. Streams with bounded memory (see lines.ts). It does not
 * produce classification or QA records (they need columns: use CSV/TSV/JSONL).
 */
import { DataError, type LocatedRecord } from '../types';
import { checkInputFile, type ImportOptions } from './common';
import { readLines } from './lines';

export async function* importTxt(file: string, opts: ImportOptions): AsyncGenerator<LocatedRecord> {
  if (opts.kind !== 'text') {
    throw new DataError({ file }, `plain text can only be imported as kind "text", not "${opts.kind}"`);
  }
  const size = await checkInputFile(file);
  const paragraphs = opts.textUnit === 'paragraph';
  let para: string[] = [];
  let paraLine = 0;
  let count = 0;
  for await (const { text, line } of readLines(file, size, opts)) {
    const blank = text.trim() === '';
    if (!paragraphs) {
      if (blank) continue;
      count++;
      yield { record: { kind: 'text', text }, at: { file, line } };
    } else if (blank) {
      if (para.length > 0) {
        count++;
        yield { record: { kind: 'text', text: para.join('\n') }, at: { file, line: paraLine } };
        para = [];
      }
    } else {
      if (para.length === 0) paraLine = line;
      para.push(text);
    }
  }
  if (para.length > 0) {
    count++;
    yield { record: { kind: 'text', text: para.join('\n') }, at: { file, line: paraLine } };
  }
  if (count === 0) throw new DataError({ file }, 'no text: the file holds only blank lines');
}
