/**
 * token-cache.ts: the compact binary cache of a tokenized dataset, its writer and its reader.
 *
 * Layout: 8 bytes magic "LSHTOK1\n", u32 LE header length H, H bytes of UTF-8 JSON header
 * (TokenCacheHeader: name, kind, tokenizer id, sizes, split names, section lengths, sha256 of the
 * body), then the body: little-endian Int32 sections in header order:
 *   ids[T], offsets[2T] (char start/end per token), bounds[N+1] (token start per record; for
 *   classification the text pair and for QA the context start at pairStart[N]), labels[N]
 *   (label index, -1 if none), splits[N] (index into header.splits), pairStart[N],
 *   answerBounds[N+1] + answerSpans[2A] (QA char start/end), impossible[N] (QA: 0/1).
 * The reader checks magic, header, section sizes against the file length and the checksum, and
 * names the file on any error. buildTokenCache tokenizes in chunks through encodeBatch (with
 * progress and cancellation) but holds the whole dataset in memory: fine for the study's sizes,
 * not for multi-gigabyte corpora (a chunked writer would be the next step).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { DataError, type DatasetKind, type LocatedRecord, type WordPieceTokenizer } from '../types';

const MAGIC = Buffer.from('LSHTOK1\n', 'latin1');
const SECTIONS = ['ids', 'offsets', 'bounds', 'labels', 'splits', 'pairStart', 'answerBounds', 'answerSpans', 'impossible'] as const;
export type SectionName = (typeof SECTIONS)[number];

export interface TokenCacheHeader {
  version: 1;
  name: string;
  kind: DatasetKind;
  tokenizer: string;
  numRecords: number;
  numTokens: number;
  labelSet: string[];
  splits: string[];
  sections: Record<SectionName, number>;
  sha256: string;
}

export type TokenCacheArrays = Record<SectionName, Int32Array>;
export interface TokenCache { header: TokenCacheHeader; arrays: TokenCacheArrays }

export interface BuildTokenCacheOptions {
  /** Checked between chunks: an aborted build throws TokenCacheCancelledError. */
  signal?: AbortSignal | undefined;
  /** Called after each chunk with records done and the total. */
  onProgress?: ((recordsDone: number, totalRecords: number) => void) | undefined;
}

/** Thrown by buildTokenCache when its signal fires. */
export class TokenCacheCancelledError extends Error {
  constructor(readonly dataset: string) {
    super(`tokenization cancelled: ${dataset}`);
    this.name = 'TokenCacheCancelledError';
  }
}

/** Records per encodeBatch call, and the text characters after which a chunk is cut early. */
const CHUNK_RECORDS = 2048;
const CHUNK_CHARS = 2 << 20;

function concatInt32(parts: Int32Array[], total: number): Int32Array {
  const out = new Int32Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Tokenizes records (classification: text then textPair; QA: question then context), in chunks
 *  through encodeBatch (the tokenizer's parallel path; same ids and offsets as encode). */
export async function buildTokenCache(
  records: readonly LocatedRecord[],
  tokenizer: WordPieceTokenizer,
  meta: { name: string; kind: DatasetKind; tokenizer: string; labelSet?: readonly string[] },
  opts: BuildTokenCacheOptions = {},
): Promise<TokenCache> {
  const labelSet = [...(meta.labelSet ?? [])];
  const splits: string[] = [];
  const idParts: Int32Array[] = [], offParts: Int32Array[] = [];
  let numTokens = 0;
  const N = records.length;
  const bounds = new Int32Array(N + 1), labels = new Int32Array(N), splitIdx = new Int32Array(N);
  const pairStart = new Int32Array(N), answerBounds = new Int32Array(N + 1), impossible = new Int32Array(N);
  const answerSpans: number[] = [];
  for (let c0 = 0; c0 < N; ) {
    if (opts.signal?.aborted) throw new TokenCacheCancelledError(meta.name);
    // One chunk: the texts of consecutive records, first and second interleaved in record order.
    const texts: string[] = [];
    const hasSecond: boolean[] = [];
    let chars = 0;
    let c1 = c0;
    while (c1 < N && c1 - c0 < CHUNK_RECORDS && chars < CHUNK_CHARS) {
      const { record: r, at } = records[c1]!;
      if (r.kind !== meta.kind) throw new DataError(at, `record of kind ${r.kind} in a ${meta.kind} dataset`);
      const first = r.kind === 'qa' ? r.question : r.text;
      const second = r.kind === 'qa' ? r.context : r.kind === 'classification' ? r.textPair : undefined;
      texts.push(first);
      chars += first.length;
      if (second !== undefined) { texts.push(second); chars += second.length; }
      hasSecond.push(second !== undefined);
      c1++;
    }
    const encs = await tokenizer.encodeBatch(texts);
    let e = 0;
    for (let i = c0; i < c1; i++) {
      const { record: r, split } = records[i]!;
      const add = (enc: { ids: Int32Array; offsets: Int32Array }): void => {
        idParts.push(enc.ids);
        offParts.push(enc.offsets);
        numTokens += enc.ids.length;
      };
      add(encs[e++]!);
      pairStart[i] = numTokens;
      if (hasSecond[i - c0]) add(encs[e++]!);
      bounds[i + 1] = numTokens;
      let label = -1;
      if (r.kind === 'classification') {
        label = labelSet.indexOf(r.label);
        if (label < 0) { labelSet.push(r.label); label = labelSet.length - 1; }
      }
      labels[i] = label;
      const s = split ?? 'train';
      if (!splits.includes(s)) splits.push(s);
      splitIdx[i] = splits.indexOf(s);
      if (r.kind === 'qa') for (const a of r.answers) answerSpans.push(a.start, a.start + a.text.length);
      answerBounds[i + 1] = answerSpans.length / 2;
      impossible[i] = r.kind === 'qa' && r.isImpossible ? 1 : 0;
    }
    c0 = c1;
    opts.onProgress?.(c0, N);
  }
  const arrays: TokenCacheArrays = {
    ids: concatInt32(idParts, numTokens), offsets: concatInt32(offParts, 2 * numTokens), bounds,
    labels, splits: splitIdx, pairStart, answerBounds, answerSpans: Int32Array.from(answerSpans), impossible,
  };
  const sections = Object.fromEntries(SECTIONS.map((s) => [s, arrays[s].length])) as Record<SectionName, number>;
  return {
    header: { version: 1, name: meta.name, kind: meta.kind, tokenizer: meta.tokenizer, numRecords: N,
      numTokens, labelSet, splits, sections, sha256: '' },
    arrays,
  };
}

function toLE(a: Int32Array): Buffer {
  if (os.endianness() === 'LE') return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const b = Buffer.alloc(a.length * 4);
  a.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
}

/** Writes the cache to `file` (via a temp file + rename; the header checksum is computed here). */
export async function writeTokenCache(file: string, cache: TokenCache): Promise<TokenCacheHeader> {
  const body = Buffer.concat(SECTIONS.map((s) => toLE(cache.arrays[s])));
  const sections = Object.fromEntries(SECTIONS.map((s) => [s, cache.arrays[s].length])) as Record<SectionName, number>;
  const header: TokenCacheHeader = { ...cache.header, sections, sha256: crypto.createHash('sha256').update(body).digest('hex') };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    await fs.promises.writeFile(tmp, Buffer.concat([MAGIC, len, json, body]));
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  return header;
}

export async function readTokenCache(file: string): Promise<TokenCache> {
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (err) {
    throw new DataError({ file }, `cannot read token cache: ${(err as Error).message}`);
  }
  const bad = (why: string): never => { throw new DataError({ file }, `corrupt token cache: ${why}`); };
  if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) bad('bad magic (not an lshlab token cache)');
  const hlen = buf.readUInt32LE(8);
  if (12 + hlen > buf.length) bad(`header length ${hlen} exceeds the file (${buf.length} bytes): truncated?`);
  let header: TokenCacheHeader;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as TokenCacheHeader;
  } catch {
    return bad('header is not valid JSON');
  }
  if (header.version !== 1 || typeof header.sections !== 'object' || header.sections === null) bad('unsupported header');
  const body = buf.subarray(12 + hlen);
  let expected = 0;
  for (const s of SECTIONS) {
    const n = header.sections[s];
    if (!Number.isInteger(n) || n < 0) bad(`section ${s} has invalid length ${String(n)}`);
    expected += n * 4;
  }
  if (body.length !== expected) bad(`body is ${body.length} bytes, header says ${expected}: truncated or padded`);
  const sum = crypto.createHash('sha256').update(body).digest('hex');
  if (sum !== header.sha256) bad(`checksum mismatch (sha256 ${sum.slice(0, 12)}..., header ${String(header.sha256).slice(0, 12)}...)`);
  const arrays = {} as TokenCacheArrays;
  let off = 0;
  for (const s of SECTIONS) {
    const n = header.sections[s];
    let a: Int32Array;
    if (os.endianness() === 'LE') {
      a = new Int32Array(n);
      new Uint8Array(a.buffer).set(body.subarray(off, off + n * 4)); // a copy: aligned, owned
    } else {
      a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = body.readInt32LE(off + i * 4);
    }
    arrays[s] = a;
    off += n * 4;
  }
  const N = header.numRecords;
  const T = header.numTokens;
  if (arrays.ids.length !== T || arrays.offsets.length !== 2 * T || arrays.bounds.length !== N + 1 ||
      arrays.labels.length !== N || arrays.splits.length !== N || arrays.pairStart.length !== N ||
      arrays.answerBounds.length !== N + 1 || arrays.impossible.length !== N) {
    bad('section sizes do not match numRecords/numTokens');
  }
  return { header, arrays };
}
