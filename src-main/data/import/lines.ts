/**
 * lines.ts: reads a text file as a stream of decoded lines with bounded memory: createReadStream,
 * incremental splitting on LF (CRLF's CR is dropped), strict UTF-8 decoding (TextDecoder with
 * fatal: true, applied per line so an invalid byte is reported with its exact line), a leading
 * byte-order mark stripped and noted, progress in bytes and cancellation via AbortSignal.
 * Splitting on the byte 0x0A is safe for UTF-8 (it never occurs inside a multi-byte character), so
 * characters that straddle chunk boundaries are decoded whole. It does not interpret the lines.
 */
import * as fs from 'node:fs';
import { DataError } from '../types';
import { checkAborted, type ImportOptions } from './common';

export interface Line {
  text: string;
  /** 1-based line number. */
  line: number;
}

/** A single line longer than this is refused (keeps memory bounded on binary garbage). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export async function* readLines(
  file: string,
  totalBytes: number,
  opts: Pick<ImportOptions, 'onProgress' | 'onNote' | 'signal'>,
): AsyncGenerator<Line> {
  const stream = fs.createReadStream(file, { highWaterMark: 64 * 1024 });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  let bytesRead = 0;
  const decode = (bytes: Buffer): string => {
    lineNo++;
    let b = bytes;
    if (lineNo === 1 && b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) {
      b = b.subarray(3);
      opts.onNote?.({ file, line: 1 }, 'byte-order mark stripped');
    }
    if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
    try {
      return decoder.decode(b);
    } catch {
      throw new DataError({ file, line: lineNo }, `invalid UTF-8 at byte ${firstInvalidUtf8(b)} of the line`);
    }
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      checkAborted(opts.signal, file);
      bytesRead += chunk.length;
      let start = 0;
      for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
        let bytes = chunk.subarray(start, nl);
        if (pendingBytes > 0) {
          pending.push(bytes);
          bytes = Buffer.concat(pending);
          pending = [];
          pendingBytes = 0;
        }
        start = nl + 1;
        const text = decode(bytes);
        yield { text, line: lineNo };
        checkAborted(opts.signal, file);
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
        if (pendingBytes > MAX_LINE_BYTES) {
          throw new DataError({ file, line: lineNo + 1 }, `line longer than ${MAX_LINE_BYTES} bytes`);
        }
      }
      opts.onProgress?.(bytesRead, totalBytes);
    }
    if (pendingBytes > 0) {
      const text = decode(Buffer.concat(pending));
      yield { text, line: lineNo };
    }
    checkAborted(opts.signal, file);
  } finally {
    stream.destroy();
  }
}

/** Byte index of the first invalid UTF-8 sequence in `b` (b.length if none). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n = 0;
    let min = 0;
    if (c < 0x80) { i++; continue; }
    else if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}
