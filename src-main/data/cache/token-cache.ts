/**
 * token-cache.ts: the compact binary cache of a tokenized dataset, its writers and its reader.
 *
 * Layout: 8 bytes magic "LSHTOK1\n", u32 LE header length H, H bytes of UTF-8 JSON header
 * (TokenCacheHeader: name, kind, tokenizer id, sizes, split names, section lengths, sha256 of the
 * body), then the body: little-endian Int32 sections in header order:
 *   ids[T], offsets[2T] (char start/end per token), bounds[N+1] (token start per record; for
 *   classification the text pair and for QA the context start at pairStart[N]), labels[N]
 *   (label index, -1 if none), splits[N] (index into header.splits), pairStart[N],
 *   answerBounds[N+1] + answerSpans[2A] (QA char start/end), impossible[N] (QA: 0/1).
 *
 * Writers:
 *   streamTokenCache  the bounded-memory path (`datasets import`, add-builtin): records stream in,
 *                     are tokenized in chunks (CHUNK_RECORDS records / CHUNK_CHARS characters)
 *                     by a ChunkEncoder (in this thread, or a worker pool: encode-pool.ts), with
 *                     several chunks in flight and results taken in order; each section is
 *                     appended to its own temporary file in a scratch folder (1 MB buffers), so
 *                     memory does not grow with the input: nothing per record or per token stays
 *                     in memory except the label and split name lists. Then tokens.bin is
 *                     assembled: the header (its section lengths are known by then) with a
 *                     placeholder checksum, the sections copied in order while hashing, and the
 *                     real sha256 written over the placeholder (same length): one pass, format 1
 *                     unchanged.
 *   buildTokenCache + writeTokenCache  in memory, for small inputs, tests and `bench datasets`.
 * The reader checks magic, header, section sizes against the file length and the checksum, and
 * names the file on any error; it reads with positioned reads, verifies the checksum block by
 * block and keeps only the sections asked for (MLM needs ids, bounds and splits, not offsets).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError, type DatasetKind, type Encoding, type LocatedRecord, type WordPieceTokenizer } from '../types';

const MAGIC = Buffer.from('LSHTOK1\n', 'latin1');
export const SECTIONS = ['ids', 'offsets', 'bounds', 'labels', 'splits', 'pairStart', 'answerBounds', 'answerSpans', 'impossible'] as const;
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
/** A cache read with only some sections (readTokenCache's `sections` option). */
export interface PartialTokenCache<S extends SectionName> { header: TokenCacheHeader; arrays: Pick<TokenCacheArrays, S> }

export interface BuildTokenCacheOptions {
  /** Checked between chunks: an aborted build throws TokenCacheCancelledError. */
  signal?: AbortSignal | undefined;
  /** Called after each chunk with records done and the total (streamTokenCache: the total
   *  announced in its options, else the records seen so far). */
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
interface SectionSink {
  tokens(ids: Int32Array, offsets: Int32Array): void;
  perRecord(s: 'bounds' | 'labels' | 'splits' | 'pairStart' | 'answerBounds' | 'impossible', v: number): void;
  answerSpan(start: number, end: number): void;
}

/** Appends encoded chunks to `sink`, keeping the token, record and answer-span counts. */
class ChunkAppender {
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

interface Chunk { records: LocatedRecord[]; texts: string[]; hasSecond: boolean[] }

/** Cuts a record stream into chunks of at most CHUNK_RECORDS records / ~CHUNK_CHARS characters. */
async function* chunksOf(records: AsyncIterable<LocatedRecord> | Iterable<LocatedRecord>, kind: DatasetKind): AsyncGenerator<Chunk> {
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
async function encodeInOrder(
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

/** Tokenizes records (classification: text then textPair; QA: question then context), in chunks
 *  through encodeBatch (the tokenizer's parallel path; same ids and offsets as encode), in memory. */
export async function buildTokenCache(
  records: readonly LocatedRecord[],
  tokenizer: WordPieceTokenizer,
  meta: { name: string; kind: DatasetKind; tokenizer: string; labelSet?: readonly string[] },
  opts: BuildTokenCacheOptions = {},
): Promise<TokenCache> {
  const N = records.length;
  const idParts: Int32Array[] = [], offParts: Int32Array[] = [];
  const per: Record<string, number[]> = { bounds: [], labels: [], splits: [], pairStart: [], answerBounds: [], impossible: [] };
  const answerSpans: number[] = [];
  const app = new ChunkAppender(meta.labelSet ?? [], {
    tokens: (ids, offsets) => { idParts.push(ids); offParts.push(offsets); },
    perRecord: (s, v) => { per[s]!.push(v); },
    answerSpan: (a, b) => { answerSpans.push(a, b); },
  });
  await encodeInOrder(chunksOf(records, meta.kind), inlineEncoder(tokenizer, 1), meta.name, opts.signal, (c, enc) => {
    app.append(c.records, c.hasSecond, enc);
    opts.onProgress?.(app.numRecords, N);
  });
  if (opts.signal?.aborted) throw new TokenCacheCancelledError(meta.name);
  const concat = (parts: Int32Array[], total: number): Int32Array => {
    const out = new Int32Array(total);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  const T = app.numTokens;
  const arrays: TokenCacheArrays = {
    ids: concat(idParts, T), offsets: concat(offParts, 2 * T), bounds: Int32Array.from(per['bounds']!),
    labels: Int32Array.from(per['labels']!), splits: Int32Array.from(per['splits']!), pairStart: Int32Array.from(per['pairStart']!),
    answerBounds: Int32Array.from(per['answerBounds']!), answerSpans: Int32Array.from(answerSpans), impossible: Int32Array.from(per['impossible']!),
  };
  const sections = Object.fromEntries(SECTIONS.map((s) => [s, arrays[s].length])) as Record<SectionName, number>;
  return {
    header: { version: 1, name: meta.name, kind: meta.kind, tokenizer: meta.tokenizer, numRecords: N,
      numTokens: T, labelSet: app.labelSet, splits: app.splits, sections, sha256: '' },
    arrays,
  };
}

function toLE(a: Int32Array): Buffer {
  if (os.endianness() === 'LE') return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const b = Buffer.alloc(a.length * 4);
  a.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
}

function headerBytes(header: TokenCacheHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  return Buffer.concat([MAGIC, len, json]);
}

function tempFileFor(file: string): string {
  return `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/** Writes the cache to `file` (via a temp file + rename; the header checksum is computed here). */
export async function writeTokenCache(file: string, cache: TokenCache): Promise<TokenCacheHeader> {
  const body = Buffer.concat(SECTIONS.map((s) => toLE(cache.arrays[s])));
  const sections = Object.fromEntries(SECTIONS.map((s) => [s, cache.arrays[s].length])) as Record<SectionName, number>;
  const header: TokenCacheHeader = { ...cache.header, sections, sha256: crypto.createHash('sha256').update(body).digest('hex') };
  const tmp = tempFileFor(file);
  try {
    await fs.promises.writeFile(tmp, Buffer.concat([headerBytes(header), body]));
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  return header;
}

/** An Int32 section appended to its own file through a 1 MB buffer (synchronous writes: the
 *  page cache absorbs them; chunks are small). */
class SectionFile {
  private readonly buf = new Int32Array(1 << 18);
  private n = 0;
  length = 0;
  private fd: number;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'wx');
  }
  push(v: number): void {
    if (this.n === this.buf.length) this.flush();
    this.buf[this.n++] = v;
    this.length++;
  }
  pushAll(a: Int32Array): void {
    if (a.length > this.buf.length - this.n) this.flush();
    if (a.length > this.buf.length) { this.writeOut(a); this.length += a.length; return; }
    this.buf.set(a, this.n);
    this.n += a.length;
    this.length += a.length;
  }
  flush(): void {
    if (this.n > 0) this.writeOut(this.buf.subarray(0, this.n));
    this.n = 0;
  }
  private writeOut(a: Int32Array): void {
    const b = toLE(a);
    let o = 0;
    while (o < b.length) o += fs.writeSync(this.fd, b, o, b.length - o);
  }
  close(): void {
    if (this.fd >= 0) { fs.closeSync(this.fd); this.fd = -1; }
  }
}

export interface StreamTokenCacheOptions extends BuildTokenCacheOptions {
  /** A scratch folder for the per-section files (removed afterwards), e.g. the dataset's temp folder. */
  scratchDir: string;
  /** Records expected (for progress only). */
  totalRecords?: number | undefined;
  /** Called for every record once its tokens are appended, in record order. */
  onRecord?: ((r: RecordTokens) => void) | undefined;
}

/** Bytes copied per read while assembling and while reading a cache. */
const BLOCK = 4 << 20;

/**
 * Tokenizes a record stream into the token cache `file` with bounded memory (see the file's
 * comment): chunks through `encoder`, sections into per-section files under scratchDir, then one
 * assembling pass that hashes as it copies. Returns the header written.
 */
export async function streamTokenCache(
  records: AsyncIterable<LocatedRecord> | Iterable<LocatedRecord>,
  encoder: ChunkEncoder,
  meta: { name: string; kind: DatasetKind; tokenizer: string; labelSet?: readonly string[] },
  file: string,
  opts: StreamTokenCacheOptions,
): Promise<TokenCacheHeader> {
  const scratch = await fs.promises.mkdtemp(path.join(opts.scratchDir, '.sections-'));
  const files = {} as Record<SectionName, SectionFile>;
  try {
    for (const s of SECTIONS) files[s] = new SectionFile(path.join(scratch, `${s}.i32`));
    const app = new ChunkAppender(meta.labelSet ?? [], {
      tokens: (ids, offsets) => { files.ids.pushAll(ids); files.offsets.pushAll(offsets); },
      perRecord: (s, v) => files[s].push(v),
      answerSpan: (a, b) => { files.answerSpans.push(a); files.answerSpans.push(b); },
    });
    await encodeInOrder(chunksOf(records, meta.kind), encoder, meta.name, opts.signal, (c, enc) => {
      app.append(c.records, c.hasSecond, enc, opts.onRecord);
      opts.onProgress?.(app.numRecords, Math.max(opts.totalRecords ?? 0, app.numRecords));
    });
    if (opts.signal?.aborted) throw new TokenCacheCancelledError(meta.name);
    for (const s of SECTIONS) { files[s].flush(); files[s].close(); }
    const sections = Object.fromEntries(SECTIONS.map((s) => [s, files[s].length])) as Record<SectionName, number>;
    const header: TokenCacheHeader = {
      version: 1, name: meta.name, kind: meta.kind, tokenizer: meta.tokenizer, numRecords: app.numRecords,
      numTokens: app.numTokens, labelSet: app.labelSet, splits: app.splits, sections, sha256: '0'.repeat(64),
    };
    const head = headerBytes(header);
    const at = head.indexOf(Buffer.from(`"sha256":"${header.sha256}"`)) + '"sha256":"'.length;
    const tmp = tempFileFor(file);
    const out = await fs.promises.open(tmp, 'wx');
    try {
      await out.write(head, 0, head.length, 0);
      let pos = head.length;
      const hash = crypto.createHash('sha256');
      const block = Buffer.allocUnsafe(BLOCK);
      for (const s of SECTIONS) {
        const inp = await fs.promises.open(files[s].file, 'r');
        try {
          for (;;) {
            if (opts.signal?.aborted) throw new TokenCacheCancelledError(meta.name);
            const { bytesRead } = await inp.read(block, 0, BLOCK, null);
            if (bytesRead === 0) break;
            hash.update(block.subarray(0, bytesRead));
            await out.write(block, 0, bytesRead, pos);
            pos += bytesRead;
          }
        } finally {
          await inp.close();
        }
        await fs.promises.rm(files[s].file);
      }
      header.sha256 = hash.digest('hex');
      await out.write(Buffer.from(header.sha256, 'latin1'), 0, 64, at);
      await out.close();
      await fs.promises.rename(tmp, file);
    } catch (err) {
      await out.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    return header;
  } finally {
    for (const s of SECTIONS) files[s]?.close();
    await fs.promises.rm(scratch, { recursive: true, force: true });
  }
}

export interface ReadTokenCacheOptions<S extends SectionName> {
  /** The sections to keep (default: all); the others are read only to verify the checksum. */
  sections?: readonly S[];
}

/**
 * Reads a token cache with positioned reads, verifying the checksum block by block: memory is
 * the kept sections plus one 4 MB block, never the file twice.
 */
export async function readTokenCache(file: string): Promise<TokenCache>;
export async function readTokenCache<S extends SectionName>(file: string, opts: ReadTokenCacheOptions<S>): Promise<PartialTokenCache<S>>;
export async function readTokenCache(file: string, opts: ReadTokenCacheOptions<SectionName> = {}): Promise<PartialTokenCache<SectionName>> {
  let fh: fs.promises.FileHandle;
  let size: number;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (err) {
    throw new DataError({ file }, `cannot read token cache: ${(err as Error).message}`);
  }
  const bad = (why: string): never => { throw new DataError({ file }, `corrupt token cache: ${why}`); };
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new DataError({ file }, 'cannot read token cache: not a regular file');
    size = st.size;
    const readAt = async (buf: Uint8Array, pos: number): Promise<void> => {
      let o = 0;
      while (o < buf.length) {
        const { bytesRead } = await fh.read(buf, o, buf.length - o, pos + o);
        if (bytesRead === 0) bad(`unexpected end of file at byte ${pos + o}: truncated?`);
        o += bytesRead;
      }
    };
    const pre = Buffer.alloc(12);
    if (size < 12) bad('bad magic (not an lshlab token cache)');
    await readAt(pre, 0);
    if (!pre.subarray(0, 8).equals(MAGIC)) bad('bad magic (not an lshlab token cache)');
    const hlen = pre.readUInt32LE(8);
    if (12 + hlen > size) bad(`header length ${hlen} exceeds the file (${size} bytes): truncated?`);
    const hbuf = Buffer.alloc(hlen);
    await readAt(hbuf, 12);
    let header: TokenCacheHeader;
    try {
      header = JSON.parse(hbuf.toString('utf8')) as TokenCacheHeader;
    } catch {
      return bad('header is not valid JSON');
    }
    if (header === null || typeof header !== 'object' || header.version !== 1 || typeof header.sections !== 'object' || header.sections === null) bad('unsupported header');
    const bodyBytes = size - 12 - hlen;
    let expected = 0;
    for (const s of SECTIONS) {
      const n = header.sections[s];
      if (!Number.isInteger(n) || n < 0) bad(`section ${s} has invalid length ${String(n)}`);
      expected += n * 4;
    }
    if (bodyBytes !== expected) bad(`body is ${bodyBytes} bytes, header says ${expected}: truncated or padded`);
    const N = header.numRecords;
    const T = header.numTokens;
    const sz = header.sections;
    if (sz.ids !== T || sz.offsets !== 2 * T || sz.bounds !== N + 1 || sz.labels !== N || sz.splits !== N ||
        sz.pairStart !== N || sz.answerBounds !== N + 1 || sz.impossible !== N) {
      bad('section sizes do not match numRecords/numTokens');
    }
    const keep = new Set<SectionName>(opts.sections ?? SECTIONS);
    const hash = crypto.createHash('sha256');
    const scratch = Buffer.allocUnsafe(BLOCK);
    const arrays: Partial<TokenCacheArrays> = {};
    let pos = 12 + hlen;
    for (const s of SECTIONS) {
      const bytes = sz[s] * 4;
      if (keep.has(s)) {
        const a = new Int32Array(sz[s]);
        const u8 = new Uint8Array(a.buffer);
        for (let o = 0; o < bytes; o += BLOCK) {
          const part = u8.subarray(o, Math.min(bytes, o + BLOCK));
          await readAt(part, pos + o);
          hash.update(part);
        }
        if (os.endianness() !== 'LE') {
          const dv = new DataView(a.buffer);
          for (let i = 0; i < a.length; i++) a[i] = dv.getInt32(i * 4, true);
        }
        arrays[s] = a;
      } else {
        for (let o = 0; o < bytes; o += BLOCK) {
          const part = scratch.subarray(0, Math.min(BLOCK, bytes - o));
          await readAt(part, pos + o);
          hash.update(part);
        }
      }
      pos += bytes;
    }
    const sum = hash.digest('hex');
    if (sum !== header.sha256) bad(`checksum mismatch (sha256 ${sum.slice(0, 12)}..., header ${String(header.sha256).slice(0, 12)}...)`);
    return { header, arrays: arrays as TokenCacheArrays };
  } finally {
    await fh.close();
  }
}
