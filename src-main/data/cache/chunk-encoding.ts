/**
 * chunk-encoding.ts: how the token-cache writers tokenize: records cut into chunks (CHUNK_RECORDS
 * records or ~CHUNK_CHARS characters), each chunk encoded by a ChunkEncoder (in this thread, or a
 * worker pool: encode-pool.ts) with several chunks in flight and results taken in order, and the
 * ChunkAppender that turns encodings into the cache's sections. It writes no file.
 */
import { DataError, type DatasetKind, type Encoding, type LocatedRecord, type WordPieceTokenizer } from '../types';
import { TokenCacheCancelledError } from './token-cache-format';

/** Records per encodeBatch call, and the text characters after which a chunk is cut early. */
export const CHUNK_RECORDS = 2048;
const CHUNK_CHARS = 2 << 20;

/** The encodings of one chunk of texts, concatenated: text k has lengths[k] tokens. */
export interface FlatEncodings {
  ids: Int32Array;
  offsets: Int32Array;
  lengths: Int32Array;
}

/** Concatenates encodings (what an encoder hands back for a chunk). */
export function flattenEncodings(encs: readonly Encoding[]): FlatEncodings {
  let total = 0;
  for (const e of encs) total += e.ids.length;
  const ids = new Int32Array(total), offsets = new Int32Array(2 * total), lengths = new Int32Array(encs.length);
  let o = 0;
  encs.forEach((e, k) => {
    ids.set(e.ids, o);
    offsets.set(e.offsets, 2 * o);
    lengths[k] = e.ids.length;
    o += e.ids.length;
  });
  return { ids, offsets, lengths };
}

/** Tokenizes chunks of texts; up to `depth` chunks may be in flight, results in call order. */
export interface ChunkEncoder {
  readonly depth: number;
  encode(texts: string[]): Promise<FlatEncodings>;
  close(): Promise<void>;
}

/** Encodes in this thread through the tokenizer's encodeBatch (the binding runs each batch on a
 *  libuv thread, so two chunks in flight overlap the Rust work with this thread's conversions). */
export function inlineEncoder(tokenizer: WordPieceTokenizer, depth = 2): ChunkEncoder {
  return {
    depth,
    encode: async (texts) => flattenEncodings(await tokenizer.encodeBatch(texts)),
    close: async () => {},
  };
}

/** The texts of a record as the cache stores them: first, and the second (pair / context) if any. */
function recordTexts(r: LocatedRecord, kind: DatasetKind): [string, string | undefined] {
  const rec = r.record;
  if (rec.kind !== kind) throw new DataError(r.at, `record of kind ${rec.kind} in a ${kind} dataset`);
  const first = rec.kind === 'qa' ? rec.question : rec.text;
  const second = rec.kind === 'qa' ? rec.context : rec.kind === 'classification' ? rec.textPair : undefined;
  return [first, second];
}

/** Per-record facts a consumer may want while the cache streams (manifest statistics). */
export interface RecordTokens {
  index: number;
  record: LocatedRecord;
  split: string;
  /** Tokens of the whole record, and of its second text (pair / context; 0 if none). */
  tokens: number;
  secondTokens: number;
  hasSecond: boolean;
}

/** What sections a record adds, shared by the in-memory and the streaming writers. */
export interface SectionSink {
  tokens(ids: Int32Array, offsets: Int32Array): void;
  perRecord(s: 'bounds' | 'labels' | 'splits' | 'pairStart' | 'answerBounds' | 'impossible', v: number): void;
  answerSpan(start: number, end: number): void;
}

/** Appends encoded chunks to `sink`, keeping the token, record and answer-span counts. */
export class ChunkAppender {
  numTokens = 0;
  numSpans = 0;
  numRecords = 0;
  readonly labelSet: string[];
  readonly splits: string[] = [];
  constructor(labelSet: readonly string[], private readonly sink: SectionSink) {
    this.labelSet = [...labelSet];
    sink.perRecord('bounds', 0);
    sink.perRecord('answerBounds', 0);
  }

  append(records: readonly LocatedRecord[], hasSecond: readonly boolean[], enc: FlatEncodings, onRecord?: (r: RecordTokens) => void): void {
    let e = 0;
    let o = 0;
    const take = (): number => {
      const n = enc.lengths[e++]!;
      this.sink.tokens(enc.ids.subarray(o, o + n), enc.offsets.subarray(2 * o, 2 * (o + n)));
      o += n;
      this.numTokens += n;
      return n;
    };
    records.forEach((lr, k) => {
      const r = lr.record;
      const start = this.numTokens;
      take();
      this.sink.perRecord('pairStart', this.numTokens);
      const second = hasSecond[k]! ? take() : 0;
      this.sink.perRecord('bounds', this.numTokens);
      let label = -1;
      if (r.kind === 'classification') {
        label = this.labelSet.indexOf(r.label);
        if (label < 0) { this.labelSet.push(r.label); label = this.labelSet.length - 1; }
      }
      this.sink.perRecord('labels', label);
      const s = lr.split ?? 'train';
      let si = this.splits.indexOf(s);
      if (si < 0) { this.splits.push(s); si = this.splits.length - 1; }
      this.sink.perRecord('splits', si);
      if (r.kind === 'qa') for (const a of r.answers) { this.sink.answerSpan(a.start, a.start + a.text.length); this.numSpans++; }
      this.sink.perRecord('answerBounds', this.numSpans);
      this.sink.perRecord('impossible', r.kind === 'qa' && r.isImpossible ? 1 : 0);
      onRecord?.({ index: this.numRecords, record: lr, split: s, tokens: this.numTokens - start, secondTokens: second, hasSecond: hasSecond[k]! });
      this.numRecords++;
    });
    if (e !== enc.lengths.length) throw new Error(`encoder returned ${enc.lengths.length} encodings for ${e} texts`);
  }
}

export interface Chunk { records: LocatedRecord[]; texts: string[]; hasSecond: boolean[] }

/** Cuts a record stream into chunks of at most CHUNK_RECORDS records / ~CHUNK_CHARS characters. */
export async function* chunksOf(records: AsyncIterable<LocatedRecord> | Iterable<LocatedRecord>, kind: DatasetKind): AsyncGenerator<Chunk> {
  let c: Chunk = { records: [], texts: [], hasSecond: [] };
  let chars = 0;
  for await (const r of records) {
    const [first, second] = recordTexts(r, kind);
    c.records.push(r);
    c.texts.push(first);
    chars += first.length;
    if (second !== undefined) { c.texts.push(second); chars += second.length; }
    c.hasSecond.push(second !== undefined);
    if (c.records.length >= CHUNK_RECORDS || chars >= CHUNK_CHARS) {
      yield c;
      c = { records: [], texts: [], hasSecond: [] };
      chars = 0;
    }
  }
  if (c.records.length > 0) yield c;
}

/** Runs the chunks through the encoder with up to encoder.depth chunks in flight, in order. */
export async function encodeInOrder(
  chunks: AsyncIterable<Chunk>,
  encoder: ChunkEncoder,
  name: string,
  signal: AbortSignal | undefined,
  consume: (c: Chunk, enc: FlatEncodings) => void | Promise<void>,
): Promise<void> {
  const queue: { chunk: Chunk; enc: Promise<FlatEncodings> }[] = [];
  const drain = async (): Promise<void> => {
    const head = queue.shift()!;
    await consume(head.chunk, await head.enc);
  };
  try {
    for await (const chunk of chunks) {
      if (signal?.aborted) throw new TokenCacheCancelledError(name);
      const enc = encoder.encode(chunk.texts);
      enc.catch(() => undefined); // awaited in order below; this keeps a later chunk's failure from being "unhandled"
      queue.push({ chunk, enc });
      while (queue.length >= Math.max(1, encoder.depth)) await drain();
    }
    while (queue.length > 0) {
      if (signal?.aborted) throw new TokenCacheCancelledError(name);
      await drain();
    }
  } finally {
    queue.length = 0;
  }
}
