/**
 * jsonl.ts: JSON Lines importer: one JSON object per line, fields chosen by ImportOptions.columns
 * (defaults: text/sentence..., label, text_pair/sentence2...; QA: id, question, context, answers).
 * The columns are resolved from the first object; later objects missing a field are errors naming
 * the line. Blank lines are skipped. Streams with bounded memory (see lines.ts). It does not
 * accept a single JSON array (that is plain JSON, not JSONL).
 */
import { DataError, type LocatedRecord } from '../types';
import { checkInputFile, type ImportOptions } from './common';
import { readLines } from './lines';
import { buildRecord, planColumns, type ColumnPlan } from './records';

export async function* importJsonl(file: string, opts: ImportOptions): AsyncGenerator<LocatedRecord> {
  const size = await checkInputFile(file);
  let plan: ColumnPlan | undefined;
  let count = 0;
  for await (const { text, line } of readLines(file, size, opts)) {
    if (text.trim() === '') continue;
    const at = { file, line };
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      throw new DataError(at, `invalid JSON: ${(err as Error).message}`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new DataError(at, 'expected a JSON object on each line');
    }
    const o = obj as Record<string, unknown>;
    plan ??= planColumns(opts, Object.keys(o), at);
    count++;
    yield buildRecord(opts, plan, (n) => (Object.prototype.hasOwnProperty.call(o, n) ? o[n] : undefined), at, `${line}`);
  }
  if (count === 0) throw new DataError({ file }, 'no records: the file holds only blank lines');
}
