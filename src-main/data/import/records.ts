/**
 * records.ts: turns one row of named fields (a JSONL object, a CSV/TSV row with a header, a
 * Parquet row) into a dataset record of the requested kind: it picks the columns (explicit names,
 * else the usual names: text/sentence/sentence1..., label, text_pair/sentence2...), checks them
 * (missing column, wrong type, label outside the declared set) and validates QA answer offsets
 * against the context. Errors name the place. It reads no files.
 */
import {
  DataError,
  type DatasetRecord,
  type LocatedRecord,
  type QaAnswer,
  type SourceLocation,
} from '../types';
import type { ColumnNames, ImportOptions } from './common';

export const DEFAULT_COLUMNS = {
  text: ['text', 'sentence', 'sentence1', 'content', 'document'],
  textPair: ['text_pair', 'sentence2', 'premise_b'],
  label: ['label', 'labels', 'class'],
  id: ['id'],
  question: ['question'],
  context: ['context'],
  answers: ['answers'],
  split: ['split'],
} as const;

type Field = keyof typeof DEFAULT_COLUMNS;

/** Resolves which column name to use for `field` given the available names (undefined if an
 *  optional field is absent); an explicitly named column that is missing is an error. */
export function pickColumn(
  field: Field,
  available: readonly string[],
  columns: ColumnNames | undefined,
  required: boolean,
  at: SourceLocation,
): string | undefined {
  const explicit = columns?.[field];
  if (explicit !== undefined) {
    if (!available.includes(explicit)) {
      throw new DataError(at, `missing column "${explicit}" (${field}); found: ${available.join(', ') || 'none'}`);
    }
    return explicit;
  }
  const found = DEFAULT_COLUMNS[field].find((n) => available.includes(n));
  if (found === undefined && required) {
    throw new DataError(
      at,
      `missing ${field} column (tried ${DEFAULT_COLUMNS[field].join(', ')}); found: ${available.join(', ') || 'none'}`,
    );
  }
  return found;
}

function asText(v: unknown, name: string, at: SourceLocation): string {
  if (typeof v === 'string') return v;
  throw new DataError(at, `column "${name}" must be a string, found ${v === null ? 'null' : typeof v}`);
}

function asLabel(v: unknown, name: string, at: SourceLocation, labels: readonly string[] | undefined): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' && Number.isFinite(v)) s = String(v);
  else if (typeof v === 'bigint' || typeof v === 'boolean') s = String(v);
  else throw new DataError(at, `label column "${name}" must be a string or number, found ${v === null ? 'null' : typeof v}`);
  if (labels !== undefined && !labels.includes(s)) {
    throw new DataError(at, `label "${s}" is not in the declared label set {${labels.join(', ')}}`);
  }
  return s;
}

/** Checks that every answer's text is the context at its offset. */
export function checkAnswers(context: string, answers: readonly QaAnswer[], at: SourceLocation): void {
  answers.forEach((a, i) => {
    if (!Number.isInteger(a.start) || a.start < 0 || a.start + a.text.length > context.length) {
      throw new DataError(at, `answer ${i} offset ${a.start} is outside the context (length ${context.length})`);
    }
    const got = context.slice(a.start, a.start + a.text.length);
    if (got !== a.text) {
      throw new DataError(at, `answer ${i} "${a.text}" does not match the context at ${a.start} ("${got}")`);
    }
  });
}

/** Reads answers as SQuAD's {text: [], answer_start: []} or a list of {text, answer_start}. */
function asAnswers(v: unknown, name: string, at: SourceLocation): QaAnswer[] {
  const bad = (): never => {
    throw new DataError(at, `column "${name}" must be {text[], answer_start[]} or [{text, answer_start}]`);
  };
  const num = (x: unknown): number => (typeof x === 'bigint' ? Number(x) : typeof x === 'number' ? x : bad());
  if (Array.isArray(v)) {
    return v.map((a) => {
      if (a === null || typeof a !== 'object') return bad();
      const o = a as Record<string, unknown>;
      if (typeof o['text'] !== 'string') return bad();
      return { text: o['text'], start: num(o['answer_start']) };
    });
  }
  if (v === null || typeof v !== 'object') return bad();
  const o = v as Record<string, unknown>;
  const texts = o['text'];
  const starts = o['answer_start'];
  if (!Array.isArray(texts) || !Array.isArray(starts) || texts.length !== starts.length) return bad();
  return texts.map((t, i) => ({ text: typeof t === 'string' ? t : bad(), start: num(starts[i]) }));
}

/** Column choice for one source, resolved once (from the header / schema / first object). */
export type ColumnPlan = Partial<Record<Field, string>>;

export function planColumns(
  opts: Pick<ImportOptions, 'kind' | 'columns'>,
  available: readonly string[],
  at: SourceLocation,
): ColumnPlan {
  const c = opts.columns;
  const plan: ColumnPlan = {};
  const set = (f: Field, required: boolean): void => {
    const n = pickColumn(f, available, c, required, at);
    if (n !== undefined) plan[f] = n;
  };
  set('split', false);
  if (opts.kind === 'text') set('text', true);
  else if (opts.kind === 'classification') {
    set('text', true);
    set('label', true);
    set('textPair', false);
  } else {
    set('question', true);
    set('context', true);
    set('answers', true);
    set('id', false);
  }
  return plan;
}

/** Builds the record for one row. `get` returns a field's value (undefined if absent). */
export function buildRecord(
  opts: Pick<ImportOptions, 'kind' | 'labels'>,
  plan: ColumnPlan,
  get: (name: string) => unknown,
  at: SourceLocation,
  fallbackId: string,
): LocatedRecord {
  const need = (f: Field): [string, unknown] => {
    const name = plan[f]!;
    const v = get(name);
    if (v === undefined) throw new DataError(at, `missing field "${name}"`);
    return [name, v];
  };
  let record: DatasetRecord;
  if (opts.kind === 'text') {
    const [n, v] = need('text');
    record = { kind: 'text', text: asText(v, n, at) };
  } else if (opts.kind === 'classification') {
    const [tn, tv] = need('text');
    const [ln, lv] = need('label');
    record = { kind: 'classification', text: asText(tv, tn, at), label: asLabel(lv, ln, at, opts.labels) };
    if (plan.textPair !== undefined) {
      const pv = get(plan.textPair);
      if (pv !== undefined && pv !== null && pv !== '') record.textPair = asText(pv, plan.textPair, at);
    }
  } else {
    const [qn, qv] = need('question');
    const [cn, cv] = need('context');
    const [an, av] = need('answers');
    const context = asText(cv, cn, at);
    const answers = asAnswers(av, an, at);
    checkAnswers(context, answers, at);
    const idv = plan.id !== undefined ? get(plan.id) : undefined;
    const id = idv === undefined || idv === null ? fallbackId : String(idv);
    record = { kind: 'qa', id, question: asText(qv, qn, at), context, answers, isImpossible: answers.length === 0 };
  }
  const out: LocatedRecord = { record, at };
  if (plan.split !== undefined) {
    const sv = get(plan.split);
    if (sv !== undefined && sv !== null) out.split = asText(sv, plan.split, at);
  }
  return out;
}
