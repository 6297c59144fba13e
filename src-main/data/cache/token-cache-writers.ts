/**
 * token-cache-writers.ts: the two ways a token cache is written.
 *   streamTokenCache  bounded memory (`datasets import`, add-builtin): sections are appended to
 *                     temporary per-section files while records stream, then tokens.bin is
 *                     assembled in one pass with the checksum written last (see token-cache.ts).
 *   buildTokenCache + writeTokenCache  in memory, for small inputs, tests and `bench datasets`.
 * The format is token-cache-format.ts; the reader is token-cache.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DatasetKind, LocatedRecord, WordPieceTokenizer } from '../types';
import {
  BLOCK, headerBytes, SECTIONS, tempFileFor, toLE, TokenCacheCancelledError, type BuildTokenCacheOptions, type SectionName, type TokenCache,
  type TokenCacheArrays, type TokenCacheHeader,
} from './token-cache-format';
import { ChunkAppender, chunksOf, encodeInOrder, inlineEncoder, type ChunkEncoder, type RecordTokens } from './chunk-encoding';

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
