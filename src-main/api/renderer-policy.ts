/**
 * renderer-policy.ts: what both shells send with the built renderer's files: the content type of
 * each file and the Content-Security-Policy. Serve mode (server/static.ts) and the desktop app's
 * app:// protocol (electron/protocol.ts) serve the same dist/renderer/ build, so they share one
 * policy: Vite emits no inline script, so `script-src 'self'` holds in both.
 *
 * Node-free strings only; it serves nothing itself.
 */

const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** The content type of a renderer file by its name's extension (octet-stream if unknown). */
export function rendererContentType(file: string): string {
  const m = /\.[^./\\]+$/.exec(file);
  return (m && MIME_TYPES[m[0].toLowerCase()]) ?? 'application/octet-stream';
}

/** The CSP of every renderer response; `connectExtra` adds sources (serve mode's ws://host:port). */
export function rendererCsp(connectExtra: readonly string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    ['connect-src', "'self'", ...connectExtra].join(' '),
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}
