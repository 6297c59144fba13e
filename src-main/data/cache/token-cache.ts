/**
 * token-cache.ts: the compact binary cache of a tokenized dataset: its layout, its reader, and
 * (re-exported) its format, chunked encoding and writers.
 *
 * Layout: 8 bytes magic "LSHTOK1\n", u32 LE header length H, H bytes of UTF-8 JSON header
 * (TokenCacheHeader: name, kind, tokenizer id, sizes, split names, section lengths, sha256 of the
 * body), then the body: little-endian Int32 sections in header order:
 *   ids[T], offsets[2T] (char start/end per token), bounds[N+1] (token start per record; for
 *   classification the text pair and for QA the context start at pairStart[N]), labels[N]
 *   (label index, -1 if none), splits[N] (index into header.splits), pairStart[N],
 *   answerBounds[N+1] + answerSpans[2A] (QA char start/end), impossible[N] (QA: 0/1).
 *
 * Writers (token-cache-writers.ts, tokenizing through chunk-encoding.ts):
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
import { DataError } from '../types';
import { BLOCK, MAGIC, SECTIONS, type PartialTokenCache, type SectionName, type TokenCache, type TokenCacheArrays, type TokenCacheHeader } from './token-cache-format';

export * from './token-cache-format';
export * from './chunk-encoding';
export * from './token-cache-writers';

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
