/**
 * static.ts: serves the built renderer (dist/renderer/) to an authenticated GET: files by their
 * path with a correct content type, index.html for paths without an extension (client-side
 * routes), and the security headers every page gets (CSP, nosniff, no framing, no referrer).
 * A path can never leave the renderer folder: percent-decoding happens once, then any '..', '\',
 * NUL or empty segment is refused, and the resolved real path (symlinks followed) must still lie
 * inside the folder.
 *
 * It does not check tokens (security.ts) and serves nothing but files.
 */
import * as fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import * as path from 'node:path';
import { rendererContentType, rendererCsp } from '../api/renderer-policy.js';

export function contentTypeOf(file: string): string {
  return rendererContentType(file);
}

/** The CSP of every page, `wsHost` being the Host the browser used (host:port). */
export function cspFor(wsHost: string): string {
  return rendererCsp([`ws://${wsHost}`]);
}

export function securityHeaders(wsHost: string): Record<string, string> {
  return {
    'Content-Security-Policy': cspFor(wsHost),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>lshlab</title>
<p>The lshlab renderer is not built: run <code>npm run build</code> in the lshlab folder, then reload.
The API answers at <code>/api/</code>.</p>\n`;

export type StaticResult = { status: 200 | 400 | 404; file?: string; body?: string };

/** The file for a request path, or why not. `pathname` is the raw (still percent-encoded) path. */
export function resolveStatic(rootIn: string, pathname: string): StaticResult {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { status: 400, body: 'bad request: malformed percent-encoding in the path\n' };
  }
  const segments = decoded.split('/').slice(1);
  if (segments.some((s) => s === '..' || s === '.' || s.includes('\\') || s.includes('\0') || s.includes(':')))
    return { status: 400, body: 'bad request: path not allowed\n' };
  if (segments.slice(0, -1).some((s) => s === '')) return { status: 400, body: 'bad request: path not allowed\n' };
  let root: string;
  try {
    root = fs.realpathSync(rootIn);
  } catch {
    return pathname === '/' || path.extname(decoded) === '' ? { status: 200, body: NOT_BUILT } : { status: 404, body: 'not found\n' };
  }
  const rel = segments.join('/');
  const wantIndex = rel === '' || path.extname(rel) === '';
  const candidate = path.join(root, ...segments.filter(Boolean));
  let real: string | undefined;
  try {
    real = fs.realpathSync(candidate);
    if (!fs.statSync(real).isFile()) real = undefined;
  } catch {
    real = undefined;
  }
  if (real !== undefined && !real.startsWith(root + path.sep)) return { status: 404, body: 'not found\n' };
  if (real !== undefined) return { status: 200, file: real };
  if (wantIndex) {
    const index = path.join(root, 'index.html');
    return fs.existsSync(index) ? { status: 200, file: index } : { status: 200, body: NOT_BUILT };
  }
  return { status: 404, body: 'not found\n' };
}

export function sendStatic(res: ServerResponse, r: StaticResult, wsHost: string, head: boolean): void {
  const headers: Record<string, string> = { ...securityHeaders(wsHost), 'Cache-Control': 'no-cache' };
  if (r.file) {
    const size = fs.statSync(r.file).size;
    res.writeHead(200, { ...headers, 'Content-Type': contentTypeOf(r.file), 'Content-Length': String(size) });
    if (head) res.end();
    else fs.createReadStream(r.file).on('error', () => res.destroy()).pipe(res);
    return;
  }
  const body = r.body ?? '';
  const type = r.status === 200 ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8';
  res.writeHead(r.status, { ...headers, 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(head ? undefined : body);
}
