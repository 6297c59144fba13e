/**
 * security.ts: serve mode's gatekeeping, applied to every HTTP request and WebSocket upgrade
 * before anything else looks at it:
 *   Host     must name this server: the bound address, `localhost` or `127.0.0.1` (or `[::1]`),
 *            with the bound port; anything else is 403 (a DNS-rebinding page has its own name in
 *            Host). Bound to a wildcard address (0.0.0.0, ::), any IP literal is accepted too
 *            (rebinding needs a DNS name).
 *   Origin   if present, must be http://<an accepted Host>; anything else is 403.
 *   token    32 random bytes (hex) from the query (`?token=`, page loads and WebSockets), the
 *            `X-Lshlab-Token` header, or the HttpOnly SameSite=Strict cookie; compared in
 *            constant time; missing or wrong is 401.
 * It does not route or answer requests (server.ts does).
 */
import * as crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import * as net from 'node:net';
import { TOKEN_COOKIE, TOKEN_HEADER } from '../api/contract.js';

export function newToken(): string {
  return crypto.randomBytes(32).toString('hex');
}

/** Constant-time comparison (hashing first makes the lengths equal, so length leaks nothing either). */
export function tokenEquals(given: string, token: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(a, b) && given.length === token.length;
}

/** The cookie name: per port, since browsers share cookies across ports of one host. */
export function cookieName(port: number): string {
  return `${TOKEN_COOKIE}_${port}`;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

export interface Gate {
  host: string;
  port: number;
  token: string;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** Host header value -> [hostname, port] ("[::1]:80" -> ["::1", 80]); undefined if malformed. */
function splitHost(h: string): [string, number] | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(\d{1,5})$/.exec(h.trim());
  if (!m) return undefined;
  return [m[1]!.replace(/^\[|\]$/g, '').toLowerCase(), Number(m[2])];
}

/** Whether a Host header (or an Origin's host part) names this server. */
export function hostAccepted(gate: Gate, hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const hp = splitHost(hostHeader);
  if (!hp || hp[1] !== gate.port) return false;
  const name = hp[0];
  const bound = gate.host.replace(/^\[|\]$/g, '').toLowerCase();
  if (name === bound || name === 'localhost' || name === '127.0.0.1' || name === '::1') return true;
  return isWildcard(gate.host) && net.isIP(name) !== 0;
}

export function originAccepted(gate: Gate, origin: string | undefined): boolean {
  if (origin === undefined) return true; // not a cross-origin browser request (curl, same-origin navigation)
  const m = /^http:\/\/([^/]+)$/.exec(origin);
  return m !== null && hostAccepted(gate, m[1]);
}

export type Verdict = { ok: true; via: 'query' | 'header' | 'cookie' } | { ok: false; status: 401 | 403; message: string };

/** The gate's decision for a request: host, origin, then token. */
export function checkRequest(gate: Gate, req: IncomingMessage, url: URL): Verdict {
  if (!hostAccepted(gate, req.headers.host))
    return { ok: false, status: 403, message: `forbidden: Host '${req.headers.host ?? ''}' is not this server (use http://127.0.0.1:${gate.port}/)` };
  if (!originAccepted(gate, req.headers.origin)) return { ok: false, status: 403, message: `forbidden: requests from origin '${req.headers.origin}' are not allowed` };
  const q = url.searchParams.get('token');
  if (q !== null) return tokenEquals(q, gate.token) ? { ok: true, via: 'query' } : { ok: false, status: 401, message: 'unauthorized: wrong token' };
  const h = req.headers[TOKEN_HEADER];
  if (typeof h === 'string') return tokenEquals(h, gate.token) ? { ok: true, via: 'header' } : { ok: false, status: 401, message: 'unauthorized: wrong token' };
  const c = parseCookies(req.headers.cookie).get(cookieName(gate.port));
  if (c !== undefined) return tokenEquals(c, gate.token) ? { ok: true, via: 'cookie' } : { ok: false, status: 401, message: 'unauthorized: wrong token' };
  return { ok: false, status: 401, message: `unauthorized: open the URL with ?token=... that 'lshlab serve' printed` };
}
