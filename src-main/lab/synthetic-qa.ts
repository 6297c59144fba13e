/**
 * synthetic-qa.ts: the generator of builtin-qa, a small SQuAD-format cloze set made from the
 * built-in corpus, deterministic given a seed.
 *
 * Each example: the context is 2-5 consecutive sentences of one paragraph (an exact substring of
 * the corpus text, at most ~1000 characters); the answer is a word or short phrase of one of those
 * sentences that occurs exactly once in the context (a run of capitalised words inside the
 * sentence, a number, or a content word of 4+ letters that is not a stop word); the question is
 * that sentence with the answer replaced by "___". So the answer is always an exact span of the
 * context (start offset checked), unique, and findable by matching the question against the
 * context: a retrieval task that exercises attention, not world knowledge. Up to two questions
 * per context (different sentences); contexts, not questions, are split train/validation (every
 * tenth context is validation), so no context is shared across the split.
 *
 * It does not read the corpus (the caller passes documents) and does not tokenize.
 */
import { mulberry32 } from '../data/random.js';
import { checkAnswers } from '../data/import/records.js';
import type { LocatedRecord, QaRecord } from '../data/types.js';

export const BLANK = '___';

export interface SyntheticQaOptions {
  /** Questions to make (default 3000). */
  count?: number;
  seed?: number;
  /** Names the records' origin (default "builtin:qa"). */
  source?: string;
}

const STOP = new Set(`about above after again against all also among an and any are around because been before being
below between both but could did does doing down during each either even ever every from further had has have having
here hers herself himself his how however into its itself just least less many might more most much must neither never
none nor not now often once only other ought our ours ourselves over own perhaps quite rather said same shall she should
since some such than that the their theirs them themselves then there these they this those though through thus till
together too toward towards under until upon very was were what whatever when where whether which while who whom whose
why will with within without would yet you your yours yourself yourselves one two three four five first last like
made make well upon thou thee thy shall unto`.split(/\s+/));

interface Span { start: number; end: number }

/** Sentence spans of a paragraph: cut after . ! ? (and closing quotes) before a capital. */
export function sentenceSpans(text: string): Span[] {
  const out: Span[] = [];
  let start = 0;
  const re = /[.!?]+["'\u201d\u2019)\]]*(\s+)(?=["'\u201c\u2018(]?[A-Z])/g;
  for (const m of text.matchAll(re)) {
    const end = m.index! + m[0].length - m[1]!.length;
    out.push({ start, end });
    start = m.index! + m[0].length;
  }
  if (start < text.length) out.push({ start, end: text.length });
  return out
    .map(({ start: s, end: e }) => {
      while (s < e && /\s/.test(text[s]!)) s++;
      while (e > s && /\s/.test(text[e - 1]!)) e--;
      return { start: s, end: e };
    })
    .filter((s) => s.end > s.start);
}

/** ASCII lower case (length-preserving, so indices stay valid). */
const lowerAscii = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
const WORDCHAR = /[\p{L}\p{N}]/u;

/** How often `phrase` (ASCII) occurs in `lowered` (a lowerAscii text) as whole words. */
function occurrences(lowered: string, phrase: string): number {
  const q = lowerAscii(phrase);
  let n = 0;
  for (let i = lowered.indexOf(q); i >= 0; i = lowered.indexOf(q, i + 1)) {
    const before = i > 0 ? lowered[i - 1]! : ' ';
    const after = i + q.length < lowered.length ? lowered[i + q.length]! : ' ';
    if (!WORDCHAR.test(before) && !WORDCHAR.test(after)) n++;
  }
  return n;
}

/** Answer candidates of one sentence (offsets relative to the sentence), best kinds first. */
function candidates(sentence: string): Span[] {
  const names: Span[] = [];
  const numbers: Span[] = [];
  const words: Span[] = [];
  for (const m of sentence.matchAll(/(?<![\p{L}\p{N}])[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}(?![\p{L}\p{N}])/gu)) {
    if (m.index! > 0 && !STOP.has(m[0].toLowerCase())) names.push({ start: m.index!, end: m.index! + m[0].length });
  }
  for (const m of sentence.matchAll(/(?<![\p{L}\p{N},.])\d[\d,]*\d(?![\p{L}\p{N}])/gu)) numbers.push({ start: m.index!, end: m.index! + m[0].length });
  for (const m of sentence.matchAll(/(?<![\p{L}\p{N}'-])[a-z]{4,}(?![\p{L}\p{N}'-])/gu)) {
    if (!STOP.has(m[0])) words.push({ start: m.index!, end: m.index! + m[0].length });
  }
  return [...names, ...numbers, ...words];
}

function shuffle<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Makes the cloze questions from documents (see the header). */
export function synthesizeQa(docs: Iterable<{ id: string; text: string }>, opts: SyntheticQaOptions = {}): LocatedRecord<QaRecord>[] {
  const count = opts.count ?? 3000;
  const rand = mulberry32(opts.seed ?? 42);
  const file = opts.source ?? 'builtin:qa';
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
  // Paragraphs with enough sentences, in a seeded order.
  const paragraphs: { doc: string; text: string; sents: Span[] }[] = [];
  for (const d of docs) {
    for (const p of d.text.split(/\n+/)) {
      const sents = sentenceSpans(p).filter((s) => s.end - s.start >= 30 && s.end - s.start <= 300);
      if (sents.length >= 2) paragraphs.push({ doc: d.id, text: p, sents });
    }
  }
  shuffle(paragraphs, rand);
  const out: LocatedRecord<QaRecord>[] = [];
  let contexts = 0;
  for (const p of paragraphs) {
    if (out.length >= count) break;
    // 2-5 consecutive (kept) sentences that are adjacent in the text, at most ~1000 characters.
    const k = Math.min(p.sents.length, 2 + Math.floor(rand() * 4));
    const first = Math.floor(rand() * (p.sents.length - k + 1));
    let win = p.sents.slice(first, first + k);
    while (win.length > 2 && win[win.length - 1]!.end - win[0]!.start > 1000) win = win.slice(0, -1);
    if (win[win.length - 1]!.end - win[0]!.start > 1000) continue;
    const c0 = win[0]!.start;
    const context = p.text.slice(c0, win[win.length - 1]!.end);
    const lowered = lowerAscii(context);
    const order = shuffle(win.map((_, i) => i), rand);
    const made: string[] = [];
    for (const si of order) {
      if (made.length >= 2 || out.length >= count) break;
      const s = win[si]!;
      const sentence = p.text.slice(s.start, s.end);
      const cands = candidates(sentence).filter((c) => {
        const t = sentence.slice(c.start, c.end);
        return !made.includes(t.toLowerCase()) && occurrences(lowered, t) === 1;
      });
      if (cands.length === 0) continue;
      // Prefer names and numbers (the first candidates) half of the time.
      const c = rand() < 0.5 ? cands[0]! : pick(cands);
      const text = sentence.slice(c.start, c.end);
      const start = s.start - c0 + c.start;
      const rec: QaRecord = {
        kind: 'qa', id: `synthetic-${out.length}`,
        question: sentence.slice(0, c.start) + BLANK + sentence.slice(c.end),
        context, answers: [{ text, start }], isImpossible: false,
      };
      const at = { file, row: out.length };
      checkAnswers(context, rec.answers, at); // exact span, or a bug here
      made.push(text.toLowerCase());
      out.push({ record: rec, at, split: contexts % 10 === 9 ? 'validation' : 'train' });
    }
    if (made.length > 0) contexts++;
  }
  return out;
}
