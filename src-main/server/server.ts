/**
 * server.ts: serve mode's HTTP server (node:http + ws, nothing else). Every request and WebSocket
 * upgrade passes security.ts first (Host, Origin, token). Then:
 *   GET  /?token=T           sets the token cookie (HttpOnly, SameSite=Strict) and redirects to
 *                            the same URL without the token;
 *   GET  /, /assets/...      the renderer (static.ts), with the CSP and security headers;
 *   POST /api/<op>           a JSON body (application/json, at most 1 MiB: 413) -> the LabApi ->
 *                            {ok:true,result} or {ok:false,error:{code,message}} with 400/403/404/
 *                            409/500; internal errors are logged, never sent (no stacks);
 *   POST /api/upload?name=F  a dataset file streamed to disk (upload.ts);
 *   GET  /api/events         the WebSocket of live events (socket.ts).
 * It does not own the LabApi (the serve command creates and closes it) or print anything.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { API_PREFIX, ApiError, encodeJson, EVENTS_PATH, HTTP_STATUS, UPLOAD_PATH, type ApiErrorCode } from '../api/contract.js';
import type { LabApiInstance } from '../api/lab-api.js';
import { packageRoot } from '../engine/paths.js';
import { checkRequest, cookieName, newToken, type Gate } from './security.js';
import { EventSockets } from './socket.js';
import { resolveStatic, securityHeaders, sendStatic } from './static.js';
import { DEFAULT_UPLOAD_LIMIT, receiveUpload } from './upload.js';

export const DEFAULT_PORT = 4517;
export const DEFAULT_JSON_LIMIT = 1024 * 1024;

export interface ServeOptions {
  api: LabApiInstance;
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** The built renderer (default <package>/dist/renderer). */
  rendererDir?: string;
  /** Default: 32 random bytes. */
  token?: string;
  jsonLimit?: number;
  uploadLimit?: number;
  log?: (text: string) => void;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const api = opts.api;
  const log = opts.log ?? ((t: string) => process.stderr.write(t + '\n'));
  const rendererDir = opts.rendererDir ?? path.join(packageRoot(), 'dist', 'renderer');
  const jsonLimit = opts.jsonLimit ?? DEFAULT_JSON_LIMIT;
  const uploadLimit = opts.uploadLimit ?? DEFAULT_UPLOAD_LIMIT;
  const gate: Gate = { host: opts.host ?? '127.0.0.1', port: opts.port ?? DEFAULT_PORT, token: opts.token ?? newToken() };
  const sockets = new EventSockets(api);

  const reply = (res: http.ServerResponse, status: number, body: unknown): void => {
    const text = encodeJson(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.end(text);
  };
  const fail = (res: http.ServerResponse, code: ApiErrorCode, message: string): void => reply(res, HTTP_STATUS[code], { ok: false, error: { code, message } });

  async function apiCall(req: http.IncomingMessage, res: http.ServerResponse, op: string): Promise<void> {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) return fail(res, 'bad-request', `send the payload as Content-Type: application/json (got '${type}')`);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > jsonLimit) {
      res.setHeader('Connection', 'close');
      req.resume();
      return fail(res, 'too-large', `request body of ${declared} bytes exceeds the limit of ${jsonLimit}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    await new Promise<void>((resolve, reject) => {
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > jsonLimit) tooLarge = true;
        else chunks.push(c);
      });
      req.on('end', resolve);
      req.on('error', reject);
    });
    if (tooLarge) return fail(res, 'too-large', `request body exceeds the limit of ${jsonLimit} bytes`);
    let payload: unknown;
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() !== '') {
      try {
        payload = JSON.parse(text);
      } catch (e) {
        return fail(res, 'bad-request', `malformed JSON: ${(e as Error).message}`);
      }
    }
    try {
      reply(res, 200, { ok: true, result: await api.call(op as never, payload as never) });
    } catch (e) {
      if (e instanceof ApiError) return fail(res, e.code, e.message);
      log(`lshlab serve: ${op}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      fail(res, 'internal', 'internal error (see the server log)');
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const rawPath = raw.split('?')[0] ?? '/';
    const url = new URL(raw.startsWith('/') ? raw : '/', 'http://server');
    const isApi = rawPath.startsWith(API_PREFIX) || rawPath === '/api';
    const verdict = checkRequest(gate, req, url);
    if (!verdict.ok) {
      if (isApi) return fail(res, verdict.status === 401 ? 'unauthorized' : 'forbidden', verdict.message);
      res.writeHead(verdict.status, { 'Content-Type': 'text/plain; charset=utf-8' });
      return void res.end(verdict.message + '\n');
    }
    if (verdict.via === 'query') {
      if (isApi || req.method !== 'GET') return fail(res, 'unauthorized', 'send the token in the X-Lshlab-Token header or the cookie, not in the URL');
      url.searchParams.delete('token');
      const rest = url.searchParams.toString();
      res.writeHead(302, {
        'Set-Cookie': `${cookieName(gate.port)}=${gate.token}; HttpOnly; SameSite=Strict; Path=/`,
        Location: rawPath + (rest ? `?${rest}` : ''),
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
      });
      return void res.end();
    }
    if (isApi) {
      if (rawPath === EVENTS_PATH) return fail(res, 'bad-request', `${EVENTS_PATH} is a WebSocket (send an Upgrade request)`);
      if (req.method !== 'POST') return fail(res, 'not-found', `use POST ${rawPath}`);
      if (rawPath === UPLOAD_PATH) return receiveUpload(api, req, url, uploadLimit, reply, fail, res);
      return apiCall(req, res, rawPath.slice(API_PREFIX.length));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      return void res.end('method not allowed\n');
    }
    sendStatic(res, resolveStatic(rendererDir, rawPath), req.headers.host ?? `${gate.host}:${gate.port}`, req.method === 'HEAD');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log(`lshlab serve: ${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      if (!res.headersSent) fail(res, 'internal', 'internal error (see the server log)');
      else res.destroy();
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
    const raw = req.url ?? '/';
    const url = new URL(raw.startsWith('/') ? raw : '/', 'http://server');
    const verdict = raw.split('?')[0] === EVENTS_PATH ? checkRequest(gate, req, url) : { ok: false as const, status: 404 as const, message: 'not found' };
    if (!verdict.ok) {
      const reason = verdict.status === 401 ? 'Unauthorized' : verdict.status === 403 ? 'Forbidden' : 'Not Found';
      socket.end(`HTTP/1.1 ${verdict.status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(verdict.message)}\r\n\r\n${verdict.message}`);
      return;
    }
    sockets.upgrade(req, socket, head);
  });
  server.on('clientError', (_e, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(gate.port, gate.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  gate.port = (server.address() as AddressInfo).port;
  const host = urlHost(gate.host);
  return {
    url: `http://${host}:${gate.port}/?token=${gate.token}`,
    host: gate.host,
    port: gate.port,
    token: gate.token,
    close: () =>
      new Promise<void>((resolve) => {
        sockets.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export { securityHeaders };
