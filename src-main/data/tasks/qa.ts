/**
 * qa.ts: the extractive-QA pipeline (SQuAD v1.1 / v2.0): question + context windows as Hugging
 * Face's run_qa prepare_train_features builds them ([CLS] question [SEP] window [SEP], only the
 * context truncated, overlapping windows), start/end token labels from the answers' character
 * offsets, post-processing of start/end logits back to text spans, and EM / F1 with the official
 * SQuAD normalisation.
 *
 * Labels, done right (the BERT-LSH code was not, see notes A.7): the answer's token span is found
 * once in the context's own encoding through the exact offsets; a window holds the answer only if
 * it holds the whole span, and then the labels are the span's positions inside the sequence, END
 * INCLUSIVE (what a BERT QA head and HF expect). Every other window, and every unanswerable
 * question, gets start = end = 0, the position of [CLS] (not the [CLS] token id).
 *
 * doc_stride follows HF's tokenizer `stride`: the number of context tokens two consecutive windows
 * share (so windows advance by window length - doc_stride), not Google's step between starts.
 *
 * buildQaFeatures does the same on pre-tokenized examples (the lab's token cache), so a dataset
 * tokenized once at import gives the features prepareQaFeatures would.
 *
 * It does not validate answers against contexts (the importer does) and does not batch.
 */
import type { Encoding, QaRecord, SpecialTokens, WordPieceTokenizer } from '../types.js';
import type { Features } from './batcher.js';

export interface QaOptions {
  /** Default 384, as run_qa. */
  maxSeqLen?: number;
  /** Context tokens shared by consecutive windows (default 128, as run_qa). */
  docStride?: number;
  /** Questions are cut to this many tokens so a context window always fits (default 64). */
  maxQueryLength?: number;
}

export interface QaFeatures extends Features {
  startPositions: Int32Array;
  endPositions: Int32Array;
  /** (count) the record each window comes from. */
  exampleIndex: Int32Array;
  /** (count, seqLen, 2) character offsets into the record's context for context tokens; -1 for
   *  [CLS], question, [SEP] and padding, so post-processing never picks them. */
  offsets: Int32Array;
}

/** The [first, last] context-token span covering characters [start, end), or null if none does. */
export function answerTokenSpan(offsets: Int32Array, start: number, end: number): [number, number] | null {
  const n = offsets.length / 2;
  let first = -1;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const s = offsets[2 * i]!;
    const e = offsets[2 * i + 1]!;
    if (e > start && s < end) {
      if (first < 0) first = i;
      last = i;
    }
  }
  return first < 0 ? null : [first, last];
}

/** Window starts over n context tokens, each window `len` tokens, sharing `stride` tokens. */
export function windowStarts(n: number, len: number, stride: number): number[] {
  const starts = [0];
  while (starts[starts.length - 1]! + len < n) starts.push(starts[starts.length - 1]! + len - stride);
  return starts;
}

/** One QA example already tokenized: question and context encodings (no special tokens) and the
 *  character span [start, end) of its labelled answer in the context (null: unanswerable). */
export interface QaEncodedExample {
  question: Encoding;
  context: Encoding;
  answer: { start: number; end: number } | null;
}

/** Encodes QA records into windows with labels (the first answer of each record is the label). */
export async function prepareQaFeatures(
  records: readonly QaRecord[],
  tokenizer: WordPieceTokenizer,
  opts: QaOptions = {},
): Promise<QaFeatures> {
  checkQaOptions(opts);
  const qs = await tokenizer.encodeBatch(records.map((r) => r.question));
  const cs = await tokenizer.encodeBatch(records.map((r) => r.context));
  const examples = records.map((r, ex): QaEncodedExample => {
    const a = r.isImpossible ? undefined : r.answers[0];
    return { question: qs[ex]!, context: cs[ex]!, answer: a ? { start: a.start, end: a.start + a.text.length } : null };
  });
  return buildQaFeatures(examples, tokenizer.special, opts);
}

function checkQaOptions(opts: QaOptions): { T: number; stride: number; maxQ: number } {
  const T = opts.maxSeqLen ?? 384;
  const stride = opts.docStride ?? 128;
  const maxQ = opts.maxQueryLength ?? 64;
  const maxWindow = T - 3 - maxQ;
  if (maxWindow <= stride) {
    throw new RangeError(`maxSeqLen ${T} leaves ${maxWindow} context tokens: must exceed docStride ${stride}`);
  }
  return { T, stride, maxQ };
}

/** The windows and labels of pre-tokenized examples (e.g. from the token cache): the same
 *  features prepareQaFeatures builds from records and a tokenizer. */
export function buildQaFeatures(examples: readonly QaEncodedExample[], special: SpecialTokens, opts: QaOptions = {}): QaFeatures {
  const { T, stride, maxQ } = checkQaOptions(opts);
  const { cls, sep, pad } = special;

  // First pass: the windows, so the feature arrays can be allocated once.
  type Win = { ex: number; qLen: number; ws: number; wl: number; label: [number, number] };
  const wins: Win[] = [];
  examples.forEach((x, ex) => {
    const qLen = Math.min(x.question.ids.length, maxQ);
    const n = x.context.ids.length;
    const budget = T - 3 - qLen; // > stride, since qLen <= maxQ
    const span = x.answer ? answerTokenSpan(x.context.offsets, x.answer.start, x.answer.end) : null;
    for (const ws of windowStarts(n, budget, stride)) {
      const wl = Math.min(budget, n - ws);
      const ctx0 = qLen + 2; // sequence position of the window's first context token
      const inside = span !== null && span[0] >= ws && span[1] < ws + wl;
      const label: [number, number] = inside ? [ctx0 + span[0] - ws, ctx0 + span[1] - ws] : [0, 0];
      wins.push({ ex, qLen, ws, wl, label });
    }
  });

  const count = wins.length;
  const f: QaFeatures = {
    count,
    seqLen: T,
    inputIds: new Int32Array(count * T).fill(pad),
    tokenTypeIds: new Int32Array(count * T),
    attentionMask: new Int32Array(count * T),
    startPositions: new Int32Array(count),
    endPositions: new Int32Array(count),
    exampleIndex: new Int32Array(count),
    offsets: new Int32Array(count * T * 2).fill(-1),
  };
  wins.forEach((w, r) => {
    const o = r * T;
    const q = examples[w.ex]!.question.ids;
    const c = examples[w.ex]!.context;
    f.inputIds[o] = cls;
    f.inputIds.set(q.subarray(0, w.qLen), o + 1);
    f.inputIds[o + w.qLen + 1] = sep;
    const ctx0 = o + w.qLen + 2;
    f.inputIds.set(c.ids.subarray(w.ws, w.ws + w.wl), ctx0);
    f.offsets.set(c.offsets.subarray(2 * w.ws, 2 * (w.ws + w.wl)), 2 * ctx0);
    f.inputIds[ctx0 + w.wl] = sep;
    f.tokenTypeIds.fill(1, ctx0, ctx0 + w.wl + 1);
    f.attentionMask.fill(1, o, ctx0 + w.wl + 1);
    f.startPositions[r] = w.label[0];
    f.endPositions[r] = w.label[1];
    f.exampleIndex[r] = w.ex;
  });
  return f;
}

/** Splits the engine's (B, T, 2) QA logits into start and end logits, each (B, T). */
export function splitQaLogits(logits: Float32Array, batchSize: number, seqLen: number): { start: Float32Array; end: Float32Array } {
  const n = batchSize * seqLen;
  if (logits.length !== 2 * n) throw new RangeError(`expected ${2 * n} logits, got ${logits.length}`);
  const start = new Float32Array(n);
  const end = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    start[i] = logits[2 * i]!;
    end[i] = logits[2 * i + 1]!;
  }
  return { start, end };
}

export interface QaPostprocessOptions {
  /** Start and end candidates per window (default 20). */
  nBest?: number;
  /** In tokens (default 30). */
  maxAnswerLength?: number;
  /** SQuAD v2: predict "" when the null score beats the best span by more than nullThreshold. */
  version2?: boolean;
  nullThreshold?: number;
}

export interface QaCandidate {
  text: string;
  score: number;
  /** Character span in the context ([start, end)); -1 for the null answer. */
  start: number;
  end: number;
}

export interface QaPrediction {
  id: string;
  /** "" is the null answer. */
  text: string;
  nbest: QaCandidate[];
}

function topIndices(a: Float32Array, from: number, len: number, k: number): number[] {
  const idx = Array.from({ length: len }, (_, i) => i);
  idx.sort((x, y) => a[from + y]! - a[from + x]!);
  return idx.slice(0, k);
}

/**
 * Logits of every window back to one answer per record, as HF's postprocess_qa_predictions:
 * top-n start and end positions per window, spans outside the context, reversed or longer than
 * maxAnswerLength skipped, score = start + end logit; with version2 the lowest null score
 * (start[0] + end[0]) over the windows competes with the best span.
 */
export function postprocessQa(
  records: readonly QaRecord[],
  features: QaFeatures,
  startLogits: Float32Array,
  endLogits: Float32Array,
  opts: QaPostprocessOptions = {},
): QaPrediction[] {
  const nBest = opts.nBest ?? 20;
  const maxLen = opts.maxAnswerLength ?? 30;
  const T = features.seqLen;
  const byExample: number[][] = records.map(() => []);
  for (let r = 0; r < features.count; r++) byExample[features.exampleIndex[r]!]!.push(r);
  const off = features.offsets;

  return records.map((rec, ex) => {
    const cands: QaCandidate[] = [];
    let nullScore = Infinity;
    for (const r of byExample[ex]!) {
      const o = r * T;
      nullScore = Math.min(nullScore, startLogits[o]! + endLogits[o]!);
      for (const s of topIndices(startLogits, o, T, nBest)) {
        if (off[2 * (o + s)]! < 0) continue; // not a context token
        for (const e of topIndices(endLogits, o, T, nBest)) {
          if (off[2 * (o + e)]! < 0 || e < s || e - s + 1 > maxLen) continue;
          const cs = off[2 * (o + s)]!;
          const ce = off[2 * (o + e) + 1]!;
          cands.push({ text: rec.context.slice(cs, ce), score: startLogits[o + s]! + endLogits[o + e]!, start: cs, end: ce });
        }
      }
    }
    cands.sort((x, y) => y.score - x.score);
    const best = cands[0];
    let text = best ? best.text : '';
    const nbest = cands.slice(0, nBest);
    if (opts.version2 && Number.isFinite(nullScore)) {
      if (!best || nullScore - best.score > (opts.nullThreshold ?? 0)) text = '';
      nbest.push({ text: '', score: nullScore, start: -1, end: -1 });
      nbest.sort((x, y) => y.score - x.score);
    }
    return { id: rec.id, text, nbest };
  });
}

// ---- Official SQuAD evaluation (evaluate-v2.0.py; identical to v1.1 on answerable questions) ----

// Python's string.punctuation: ASCII only, as the official script.
const PUNCT = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
// Python's \b is Unicode-aware; JS's is ASCII-only, so spell the boundary out with \p classes.
const ARTICLES = /(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu;

/** lower, remove punctuation, remove articles (a, an, the), fix whitespace: the official order. */
export function normalizeAnswer(s: string): string {
  let t = s.toLowerCase();
  t = Array.from(t).filter((ch) => !PUNCT.has(ch)).join('');
  t = t.replace(ARTICLES, ' ');
  return t.split(/\s+/u).filter((w) => w.length > 0).join(' ');
}

function tokens(s: string): string[] {
  const n = normalizeAnswer(s);
  return n ? n.split(' ') : [];
}

export function exactMatch(prediction: string, gold: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

export function f1Score(prediction: string, gold: string): number {
  const p = tokens(prediction);
  const g = tokens(gold);
  // v2.0 rule: if either is empty (no-answer), F1 is 1 when both are, else 0.
  if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const w of g) counts.set(w, (counts.get(w) ?? 0) + 1);
  let same = 0;
  for (const w of p) {
    const c = counts.get(w) ?? 0;
    if (c > 0) {
      same++;
      counts.set(w, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

/** The gold answers as the v2.0 script takes them: non-empty after normalisation, else [""]. */
export function goldAnswers(rec: QaRecord): string[] {
  const g = rec.answers.map((a) => a.text).filter((t) => normalizeAnswer(t) !== '');
  return g.length ? g : [''];
}

export interface SquadScores {
  /** Both in [0, 1] (the official script prints them ×100). */
  exactMatch: number;
  f1: number;
  count: number;
}

/** EM and F1, each the max over a record's gold answers, averaged over the records. */
export function squadScores(records: readonly QaRecord[], predictions: ReadonlyMap<string, string>): SquadScores {
  let em = 0;
  let f1 = 0;
  for (const rec of records) {
    const pred = predictions.get(rec.id) ?? ''; // a missing prediction scores as no answer
    const golds = goldAnswers(rec);
    em += Math.max(...golds.map((g) => exactMatch(pred, g)));
    f1 += Math.max(...golds.map((g) => f1Score(pred, g)));
  }
  const n = records.length;
  return { exactMatch: n ? em / n : NaN, f1: n ? f1 / n : NaN, count: n };
}
