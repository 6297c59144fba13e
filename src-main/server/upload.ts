/**
 * upload.ts: POST /api/upload?name=FILE[&id=32HEX]: streams the request body to a file the API's
 * upload registry hands out (under the lab's data dir), with progress events (~10/s), a size
 * limit (Content-Length checked up front, bytes counted as they arrive: 413), and cancellation
 * by aborting the request or by `uploads.cancel` (which destroys the request). Answers
 * {ok:true,result:{uploadId,name,bytes}}; the id is what datasets.import takes.
 *
 * It authenticates nothing (server.ts has already) and imports nothing.
 */
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LabApiInstance } from '../api/lab-api.js';
import type { ApiErrorCode } from '../api/contract.js';

export const DEFAULT_UPLOAD_LIMIT = 4 * 1024 ** 3;

export function receiveUpload(
  api: LabApiInstance,
  req: IncomingMessage,
  url: URL,
  limit: number,
  reply: (res: ServerResponse, status: number, body: unknown) => void,
  fail: (res: ServerResponse, code: ApiErrorCode, message: string) => void,
  res: ServerResponse,
): void {
  const name = url.searchParams.get('name');
  if (!name || name.length > 255) return fail(res, 'bad-request', 'name: give the file name as ?name=FILE (1..255 characters)');
  const lenHeader = req.headers['content-length'];
  const total = lenHeader !== undefined ? Number(lenHeader) : null;
  if (total !== null && !(Number.isSafeInteger(total) && total >= 0)) return fail(res, 'bad-request', 'Content-Length is not a byte count');
  if (total !== null && total > limit) {
    res.setHeader('Connection', 'close');
    return fail(res, 'too-large', `the file is ${total} bytes; uploads are limited to ${limit} bytes`);
  }
  const u = api.uploads.begin(name, total);
  const out = fs.createWriteStream(u.file, { flags: 'wx' });
  let bytes = 0;
  let lastEvent = 0;
  let finished = false;
  const stop = (status: 'cancelled' | 'failed', code: ApiErrorCode, message: string): void => {
    if (finished) return;
    finished = true;
    req.unpipe(out);
    out.destroy();
    api.uploads.end(u, status, status === 'failed' ? message : null);
    if (!res.headersSent && !res.destroyed) {
      res.setHeader('Connection', 'close');
      fail(res, code, message);
    }
    req.resume(); // drain what is still coming, so the answer can be read
  };
  u.abort.signal.addEventListener('abort', () => {
    stop('cancelled', 'conflict', `upload ${u.id} was cancelled`);
    req.destroy();
  });
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    bytes += chunk.length;
    if (bytes > limit) return stop('failed', 'too-large', `uploads are limited to ${limit} bytes`);
    const now = Date.now();
    if (now - lastEvent >= 100) {
      lastEvent = now;
      api.uploads.progress(u, bytes);
    }
  });
  req.on('aborted', () => stop('cancelled', 'conflict', 'the upload was aborted by the client'));
  req.on('error', () => stop('cancelled', 'conflict', 'the upload was aborted by the client'));
  out.on('error', (e) => stop('failed', 'internal', `could not write the upload: ${e.message}`));
  out.on('finish', () => {
    if (finished) return;
    if (total !== null && bytes !== total) return stop('failed', 'bad-request', `received ${bytes} of ${total} bytes`);
    finished = true;
    api.uploads.progress(u, bytes);
    api.uploads.end(u, 'done');
    reply(res, 200, { ok: true, result: { uploadId: u.id, name: u.name, bytes } });
  });
  req.pipe(out);
}
