/**
 * token-cache-format.ts: the token cache's on-disk format as types and constants (the layout is
 * described in token-cache.ts), the little helpers every writer and the reader share, and the
 * options and cancellation error of the writers. No reading or writing here.
 */
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import type { DatasetKind } from '../types';

export const MAGIC = Buffer.from('LSHTOK1\n', 'latin1');
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

/** Bytes copied per read while assembling and while reading a cache. */
export const BLOCK = 4 << 20;

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

export function toLE(a: Int32Array): Buffer {
  if (os.endianness() === 'LE') return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const b = Buffer.alloc(a.length * 4);
  a.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
}

export function headerBytes(header: TokenCacheHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  return Buffer.concat([MAGIC, len, json]);
}

export function tempFileFor(file: string): string {
  return `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

