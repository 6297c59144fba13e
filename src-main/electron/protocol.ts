/**
 * protocol.ts: the app:// scheme the desktop window loads the renderer from (the Electron security
 * checklist's "custom protocol instead of file://"). `app://lshlab/<path>` serves the file <path>
 * from the built renderer folder (dist/renderer/) and nothing else: the path is decoded once,
 * any '..' segment, backslash, NUL or absolute form is refused, and the real path (symlinks
 * followed) must still lie inside the folder. Every response carries the strict CSP below.
 *
 * It does not import electron: the scheme registration and protocol.handle call receive Electron's
 * `protocol` object from main.ts, so the whole request path is unit-tested under plain Node
 * (Response and Request are Node 20 globals, the same Fetch types protocol.handle uses).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Protocol } from 'electron';
import { rendererContentType, rendererCsp } from '../api/renderer-policy.js';

export const APP_SCHEME = 'app';
export const APP_HOST = 'lshlab';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
/** The URL the main window opens. */
export const APP_INDEX_URL = `${APP_ORIGIN}/index.html`;

/** Sent with every app:// response; the renderer is built by Vite with no inline scripts. */
export const CONTENT_SECURITY_POLICY = rendererCsp();

/** Is `url` a page or resource of our own renderer (the app://lshlab origin)? */
export function isAppUrl(url: string | undefined | null): boolean {
  if (!url) return false;
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/** The scheme list for protocol.registerSchemesAsPrivileged (must run before app 'ready'). */
export function privilegedSchemes(): Electron.CustomScheme[] {
  // standard: relative URLs and the origin work like https; secure: counts as a secure context.
  // No bypassCSP, no corsEnabled for foreign origins, no stream/codeCache needs.
  return [{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }];
}

/**
 * The file an app:// URL names inside `root`, or a refusal with its HTTP status. Purely lexical;
 * serveRendererRequest also checks the real path after symlinks.
 */
export function resolveRendererPath(root: string, url: string): { file: string } | { status: number; reason: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { status: 400, reason: 'malformed URL' };
  }
  if (!isAppUrl(url)) return { status: 404, reason: `not an ${APP_ORIGIN} URL` };
  let rel: string;
  try {
    // WHATWG URL parsing already removed literal and %2e-encoded dot segments; decoding may reveal
    // more ('..%2f..%2f'), which the segment check below refuses rather than resolves.
    rel = decodeURIComponent(u.pathname);
  } catch {
    return { status: 400, reason: 'malformed percent-encoding' };
  }
  if (rel.includes('\0') || rel.includes('\\')) return { status: 403, reason: 'forbidden character in path' };
  const segments = rel.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) return { status: 403, reason: 'dot segment in path' };
  if (segments.some((s) => /^[a-zA-Z]:/.test(s))) return { status: 403, reason: 'drive letter in path' };
  if (segments.length === 0) segments.push('index.html');
  const base = path.resolve(root);
  const file = path.resolve(base, ...segments);
  if (!isInside(base, file)) return { status: 403, reason: 'path leaves the renderer folder' };
  return { file };
}

function isInside(base: string, file: string): boolean {
  const r = path.relative(base, file);
  return r !== '' && !r.startsWith('..') && !path.isAbsolute(r);
}

// Callback fs functions on purpose: Electron's asar support patches these (the renderer lives in
// app.asar when packaged), and they are the same functions under plain Node.
const realpath = (p: string) => new Promise<string>((res, rej) => fs.realpath(p, (e, r) => (e ? rej(e) : res(r))));
const stat = (p: string) => new Promise<fs.Stats>((res, rej) => fs.stat(p, (e, s) => (e ? rej(e) : res(s))));
const readFile = (p: string) => new Promise<Buffer>((res, rej) => fs.readFile(p, (e, b) => (e ? rej(e) : res(b))));

function securityHeaders(contentType: string): Record<string, string> {
  return {
    'Content-Type': contentType,
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  };
}

function refusal(status: number, reason: string): Response {
  return new Response(`${status} ${reason}\n`, { status, headers: securityHeaders('text/plain; charset=utf-8') });
}

/** Answers one app:// request from the files under `root` (the handler given to protocol.handle). */
export async function serveRendererRequest(root: string, request: Request): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return refusal(405, 'method not allowed');
  const resolved = resolveRendererPath(root, request.url);
  if ('status' in resolved) return refusal(resolved.status, resolved.reason);
  let file: string;
  try {
    // A symlink inside dist/renderer must not lead outside it either.
    const [realRoot, realFile] = await Promise.all([realpath(root), realpath(resolved.file)]);
    if (!isInside(realRoot, realFile)) return refusal(403, 'path leaves the renderer folder');
    if (!(await stat(realFile)).isFile()) return refusal(404, 'not found');
    file = realFile;
  } catch {
    return refusal(404, 'not found');
  }
  const type = rendererContentType(file);
  const body = request.method === 'HEAD' ? null : await readFile(file);
  return new Response(body, { status: 200, headers: securityHeaders(type) });
}

/** Registers the app:// handler on Electron's protocol module (after app 'ready'). */
export function setupAppProtocol(protocol: Pick<Protocol, 'handle'>, rendererRoot: string): void {
  protocol.handle(APP_SCHEME, (request) => serveRendererRequest(rendererRoot, request));
}
