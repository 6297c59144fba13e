/**
 * dataset-preview.ts: what the dataset page shows beyond `datasets show`: a preview of records
 * with their tokenization (token strings and character offsets, from the dataset's own copy of its
 * tokenizer), and statistics computed from the token cache: tokens per record (histogram and
 * quantiles), records over the default sequence length, label balance per split
 * (classification), and where answers start (QA, as a fraction of the context and in tokens).
 *
 * Statistics read the token cache once (its checksum is verified, so the whole file is read) and
 * are cached per checksum by the caller. Nothing here writes.
 */
import * as path from 'node:path';
import { readTokenCache, type SectionName } from '../data/cache/token-cache.js';
import { loadTokenizer } from '../data/tokenizer/load.js';
import type { DatasetRecord, WordPieceTokenizer } from '../data/types.js';
import { readRecordsJsonl, RECORDS_FILE, TOKENIZER_SUBDIR, TOKENS_FILE } from '../lab/dataset-files.js';
import { DEFAULT_MODEL } from '../training/spec.js';
import type { DatasetRow } from '../store/types.js';
import { DATASET_PREVIEW_CHARS, DATASET_PREVIEW_TOKENS, type DatasetPreviewRow, type DatasetStatistics, type Histogram, type PreviewSegment } from './contract.js';

/** Texts longer than this are tokenized only up to the preview cut (numTokens then counts the cut text). */
const FULL_TOKENIZE_CHARS = 200_000;

export function datasetTokenizer(row: DatasetRow): WordPieceTokenizer {
  return loadTokenizer(path.join(row.dir, TOKENIZER_SUBDIR));
}

function cutText(s: string): { text: string; cut: boolean } {
  return s.length > DATASET_PREVIEW_CHARS ? { text: s.slice(0, DATASET_PREVIEW_CHARS), cut: true } : { text: s, cut: false };
}

async function segment(tok: WordPieceTokenizer, field: PreviewSegment['field'], text: string): Promise<PreviewSegment> {
  const enc = await tok.encode(text.length > FULL_TOKENIZE_CHARS ? text.slice(0, DATASET_PREVIEW_CHARS) : text);
  const n = Math.min(enc.ids.length, DATASET_PREVIEW_TOKENS);
  const tokens = [];
  for (let i = 0; i < n; i++) {
    const id = enc.ids[i]!;
    tokens.push({ id, token: tok.idToToken(id) ?? '[?]', start: enc.offsets[2 * i]!, end: enc.offsets[2 * i + 1]! });
  }
  return { field, tokens, numTokens: enc.ids.length };
}

/** Records [offset, offset + rows) of the dataset (of one split if given), tokenized. */
export async function previewRows(row: DatasetRow, tok: WordPieceTokenizer, opts: { rows: number; offset: number; split?: string | undefined }): Promise<DatasetPreviewRow[]> {
  const out: DatasetPreviewRow[] = [];
  if (opts.rows === 0) return out;
  let skipped = 0;
  for await (const r of readRecordsJsonl(path.join(row.dir, RECORDS_FILE), opts.split !== undefined ? { split: opts.split } : {})) {
    if (skipped++ < opts.offset) continue;
    const rec = r.record;
    const segments: PreviewSegment[] = [];
    let cut = false;
    let shown: DatasetRecord;
    if (rec.kind === 'qa') {
      const q = cutText(rec.question), c = cutText(rec.context);
      cut = q.cut || c.cut;
      shown = { ...rec, question: q.text, context: c.text };
      segments.push(await segment(tok, 'question', rec.question), await segment(tok, 'context', rec.context));
    } else {
      const t = cutText(rec.text);
      cut = t.cut;
      segments.push(await segment(tok, 'text', rec.text));
      if (rec.kind === 'classification' && rec.textPair !== undefined) {
        const p = cutText(rec.textPair);
        cut ||= p.cut;
        shown = { ...rec, text: t.text, textPair: p.text };
        segments.push(await segment(tok, 'textPair', rec.textPair));
      } else shown = { ...rec, text: t.text };
    }
    out.push({ index: r.index, split: r.split, record: shown, cut, segments });
    if (out.length >= opts.rows) break;
  }
  return out;
}

/** Histogram over `bins` equal bins: of integers from their min to max (bins at least 1 wide,
 *  edges whole numbers), or of reals over a fixed `range`. */
function histogram(values: ArrayLike<number> & Iterable<number>, bins: number, range?: [number, number]): Histogram {
  let [min, max] = range ?? [Infinity, -Infinity];
  if (!range) for (const v of values) { if (v < min) min = v; if (v > max) max = v; }
  if (!Number.isFinite(min)) return { edges: [0, 1], counts: [0] };
  const width = range ? (max - min) / bins || 1 : Math.max(1, Math.ceil((max - min + 1) / bins));
  const n = range ? bins : Math.ceil((max - min + 1) / width);
  const counts = new Array<number>(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.max(0, Math.floor((v - min) / width)))]!++;
  return { edges: Array.from({ length: n + 1 }, (_, i) => min + i * width), counts };
}

function quantile(sorted: Int32Array, q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function datasetStatistics(row: DatasetRow): Promise<DatasetStatistics> {
  const sections: SectionName[] = ['bounds', 'labels', 'splits'];
  if (row.kind === 'qa') sections.push('offsets', 'pairStart', 'answerBounds', 'answerSpans', 'impossible');
  const { header, arrays: a } = await readTokenCache(path.join(row.dir, TOKENS_FILE), { sections });
  const N = header.numRecords;
  const lengths = new Int32Array(N);
  let sum = 0;
  for (let i = 0; i < N; i++) sum += lengths[i] = a.bounds[i + 1]! - a.bounds[i]!;
  const sorted = lengths.slice().sort();
  const maxSeqLen = DEFAULT_MODEL.maxSeqLen;
  let over = 0;
  for (const l of lengths) if (l + 3 > maxSeqLen) over++; // [CLS] ... [SEP] (... [SEP])
  const splits: Record<string, number> = {};
  for (let i = 0; i < N; i++) { const s = header.splits[a.splits[i]!] ?? '?'; splits[s] = (splits[s] ?? 0) + 1; }

  let labelBalance: DatasetStatistics['labelBalance'] = null;
  if (row.kind === 'classification') {
    labelBalance = header.labelSet.map((label) => ({ label, count: 0, bySplit: {} as Record<string, number> }));
    for (let i = 0; i < N; i++) {
      const l = labelBalance[a.labels[i]!];
      if (!l) continue;
      l.count++;
      const s = header.splits[a.splits[i]!] ?? '?';
      l.bySplit[s] = (l.bySplit[s] ?? 0) + 1;
    }
  }

  let qaAnswerPositions: DatasetStatistics['qaAnswerPositions'] = null;
  if (row.kind === 'qa' && 'offsets' in a) {
    const q = a as typeof a & Record<'offsets' | 'pairStart' | 'answerBounds' | 'answerSpans' | 'impossible', Int32Array>;
    const relative: number[] = [], tokenStart: number[] = [];
    let impossible = 0;
    for (let i = 0; i < N; i++) {
      if (q.impossible[i]) impossible++;
      const c0 = q.pairStart[i]!, c1 = a.bounds[i + 1]!;
      for (let s = q.answerBounds[i]!; s < q.answerBounds[i + 1]!; s++) {
        const start = q.answerSpans[2 * s]!;
        let t = c0;
        while (t < c1 && q.offsets[2 * t + 1]! <= start) t++;
        tokenStart.push(t - c0);
        relative.push(c1 > c0 ? (t - c0) / (c1 - c0) : 0);
      }
    }
    qaAnswerPositions = { relative: histogram(relative, 10, [0, 1]), tokenStart: histogram(tokenStart, 20), answers: relative.length, impossible };
  }

  return {
    records: N,
    tokens: header.numTokens,
    tokensPerRecord: {
      min: sorted[0] ?? 0, max: sorted[N - 1] ?? 0, mean: N ? sum / N : 0,
      p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99),
    },
    lengthHistogram: histogram(lengths, 30),
    overDefaultSeqLen: { maxSeqLen, records: over },
    splits,
    labelBalance,
    qaAnswerPositions,
  };
}
