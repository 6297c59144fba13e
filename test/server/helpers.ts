/**
 * helpers.ts (test helper, not a test): a serve-mode server on a free port over a temporary lab
 * (the recorded runs of test/lab/runs-fixture.ts) and a fake renderer folder, and a raw HTTP
 * client that sends exactly the path and headers given (no URL normalisation, custom Host).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLabApi, type LabApiInstance } from '../../src-main/api/lab-api.js';
import { startServer, type RunningServer } from '../../src-main/server/server.js';
import { makeLab } from '../lab/runs-fixture.js';

export interface Served {
  server: RunningServer;
  api: LabApiInstance;
  lab: ReturnType<typeof makeLab>;
  logs: string[];
  close(): Promise<void>;
}

export async function serve(opts: { uploadLimit?: number; allowedRoots?: string[] } = {}): Promise<Served> {
  const lab = makeLab();
  const renderer = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-renderer-'));
  fs.mkdirSync(path.join(renderer, 'assets'));
  fs.writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>lshlab test page</title>');
  fs.writeFileSync(path.join(renderer, 'assets', 'app.js'), 'console.log(1);');
  const logs: string[] = [];
  const api = createLabApi({ dataDir: lab.dir, allowedRoots: opts.allowedRoots ?? [lab.dir], log: (t) => logs.push(t) });
  const server = await startServer({
    api, host: '127.0.0.1', port: 0, rendererDir: renderer, log: (t) => logs.push(t),
    ...(opts.uploadLimit !== undefined ? { uploadLimit: opts.uploadLimit } : {}),
  });
  return {
    server, api, lab, logs,
    async close() {
      await server.close();
      await api.close();
      lab.cleanup();
      fs.rmSync(renderer, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(port: number, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers: { Host: `127.0.0.1:${port}`, ...opts.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** POST /api/<op> with the token header. */
export function apiPost(s: Served, op: string, payload: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return request(s.server.port, {
    method: 'POST', path: `/api/${op}`, body: JSON.stringify(payload),
    headers: { 'Content-Type': 'application/json', 'X-Lshlab-Token': s.server.token, ...headers },
  });
}
