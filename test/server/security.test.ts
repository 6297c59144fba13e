/**
 * security.test.ts: serve mode's gate, one test per rule: token missing/wrong (401), foreign
 * Origin and Host (403, DNS rebinding), body size (413), malformed JSON and payloads (400, nothing
 * written), no stack traces, import paths outside the allowed roots (403), static path traversal
 * (plain and percent-encoded), the token -> cookie redirect and the CSP, and WebSockets without
 * a token or from a foreign origin; plus an upload imported as a dataset and an oversize upload.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { apiPost, request, serve, type Served } from './helpers.js';

let s: Served;
before(async () => {
  s = await serve({ uploadLimit: 64 * 1024 });
});
after(async () => {
  await s.close();
});

const json = (body: string): { ok: boolean; result?: unknown; error?: { code: string; message: string } } => JSON.parse(body);

test('no token: 401 for the API, pages and uploads', async () => {
  const port = s.server.port;
  const a = await request(port, { method: 'POST', path: '/api/runs.list', body: '{}', headers: { 'Content-Type': 'application/json' } });
  assert.equal(a.status, 401);
  assert.equal(json(a.body).error?.code, 'unauthorized');
  assert.equal((await request(port, { path: '/' })).status, 401);
  assert.equal((await request(port, { path: '/assets/app.js' })).status, 401);
  assert.equal((await request(port, { method: 'POST', path: '/api/upload?name=x.txt', body: 'x' })).status, 401);
});

test('wrong token: 401 whether in header, cookie or query', async () => {
  const port = s.server.port;
  const wrong = s.server.token.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  assert.equal((await apiPost(s, 'runs.list', {}, { 'X-Lshlab-Token': wrong })).status, 401);
  assert.equal((await apiPost(s, 'runs.list', {}, { 'X-Lshlab-Token': 'short' })).status, 401);
  assert.equal((await request(port, { path: '/', headers: { Cookie: `lshlab_token_${port}=${wrong}` } })).status, 401);
  assert.equal((await request(port, { path: `/?token=${wrong}` })).status, 401);
  assert.equal((await apiPost(s, 'runs.list', {})).status, 200);
});

test('foreign Origin and foreign Host: 403 even with the token', async () => {
  const port = s.server.port;
  for (const origin of ['http://evil.example', `http://evil.example:${port}`, `https://127.0.0.1:${port}`, 'null'])
    assert.equal((await apiPost(s, 'runs.list', {}, { Origin: origin })).status, 403, origin);
  for (const host of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, 'localhost', `attacker.localhost.evil:${port}`])
    assert.equal((await apiPost(s, 'runs.list', {}, { Host: host })).status, 403, host);
  assert.equal((await apiPost(s, 'runs.list', {}, { Origin: `http://localhost:${port}`, Host: `localhost:${port}` })).status, 200);
  assert.equal((await apiPost(s, 'runs.list', {}, { Origin: `http://127.0.0.1:${port}` })).status, 200);
});

test('oversize JSON body: 413; malformed JSON or payload: 400 with a message, nothing written', async () => {
  const big = await apiPost(s, 'runs.note', { run: 'baseline', notes: 'x'.repeat(1024 * 1024 + 10) });
  assert.equal(big.status, 413);
  const bad = await request(s.server.port, { method: 'POST', path: '/api/runs.rename', body: '{"run": "baseline", "name": ', headers: { 'Content-Type': 'application/json', 'X-Lshlab-Token': s.server.token } });
  assert.equal(bad.status, 400);
  assert.match(json(bad.body).error!.message, /malformed JSON/);
  const typed = await apiPost(s, 'runs.rename', { run: 'baseline', name: 42 });
  assert.equal(typed.status, 400);
  assert.match(json(typed.body).error!.message, /^runs\.rename: name: /);
  const extra = await apiPost(s, 'runs.tag', { run: 'baseline', tags: ['ok'], admin: true });
  assert.match(json(extra.body).error!.message, /admin: unknown field/);
  const form = await request(s.server.port, { method: 'POST', path: '/api/runs.rename', body: 'run=baseline&name=pwned', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Lshlab-Token': s.server.token } });
  assert.equal(form.status, 400);
  const row = s.lab.store.runs.get(s.lab.baseline.id)!;
  assert.deepEqual([row.name, row.notes, row.tags], ['baseline', '', ['paper']]);
  assert.equal((await apiPost(s, 'no.such.op', {})).status, 404);
  assert.equal((await apiPost(s, 'runs.show', { run: 'nope' })).status, 404);
  for (const a of [big, bad, typed, extra]) assert.doesNotMatch(a.body, /\bat .*\.js:\d+/);
});

test('datasets.import from a path outside the allowed roots: 403, nothing read', async () => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-secret-'));
  try {
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret\n');
    for (const p of [path.join(outside, 'secret.txt'), '/etc/passwd', path.join(s.lab.dir, '..', path.basename(outside), 'secret.txt')]) {
      const a = await apiPost(s, 'datasets.import', { source: { type: 'path', path: p }, kind: 'text' });
      assert.equal(a.status, 403, p);
      assert.match(json(a.body).error!.message, /outside the folders this server may read/);
    }
    assert.deepEqual(s.lab.store.datasets.list(), []);
  } finally {
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

test('static files: traversal refused in every spelling; the token sets a cookie and is stripped; CSP', async () => {
  const port = s.server.port;
  const cookie = `lshlab_token_${port}=${s.server.token}`;
  for (const p of ['/../package.json', '/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/assets/%2e%2e/%2e%2e/package.json', '/..%5c..%5cpackage.json', '/assets/app.js%00.html', '/%']) {
    const a = await request(port, { path: p, headers: { Cookie: cookie } });
    assert.ok([400, 404].includes(a.status) || (a.status === 200 && a.body.includes('lshlab test page')), `${p}: ${a.status}`);
    assert.doesNotMatch(a.body, /"name": "lshlab"|root:/, p);
  }
  const first = await request(port, { path: `/?token=${s.server.token}&tab=runs` });
  assert.equal(first.status, 302);
  assert.equal(first.headers.location, '/?tab=runs');
  assert.match(String(first.headers['set-cookie']), new RegExp(`^lshlab_token_${port}=${s.server.token}; HttpOnly; SameSite=Strict; Path=/`));
  const page = await request(port, { path: '/', headers: { Cookie: cookie } });
  assert.equal(page.status, 200);
  assert.match(page.body, /lshlab test page/);
  assert.equal(page.headers['content-security-policy'],
    `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws://127.0.0.1:${port}; object-src 'none'; frame-ancestors 'none'; base-uri 'none'`);
  const js = await request(port, { path: '/assets/app.js', headers: { Cookie: cookie } });
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal((await request(port, { path: '/runs/12', headers: { Cookie: cookie } })).body.includes('lshlab test page'), true);
  assert.equal((await request(port, { path: '/missing.js', headers: { Cookie: cookie } })).status, 404);
});

function wsOpen(url: string, headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => resolve({ ws }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.on('error', () => resolve({ status: -1 }));
  });
}

test('WebSocket: refused without a token, with a wrong one, or from a foreign origin; subscribes with it', async () => {
  const base = `ws://127.0.0.1:${s.server.port}/api/events`;
  assert.equal((await wsOpen(base)).status, 401);
  assert.equal((await wsOpen(`${base}?token=${'0'.repeat(64)}`)).status, 401);
  assert.equal((await wsOpen(`${base}?token=${s.server.token}`, { Origin: 'http://evil.example' })).status, 403);
  assert.equal((await wsOpen(`${base}?token=${s.server.token}`, { Host: 'evil.example' })).status, 403);
  const { ws } = await wsOpen(base, { Cookie: `lshlab_token_${s.server.port}=${s.server.token}`, Origin: `http://127.0.0.1:${s.server.port}` });
  assert.ok(ws);
  const replies: unknown[] = [];
  await new Promise<void>((resolve) => {
    ws.on('message', (d) => {
      replies.push(JSON.parse(d.toString()));
      if (replies.length === 2) resolve();
    });
    ws.send('not json');
    ws.send(JSON.stringify({ type: 'subscribe', topic: { kind: 'runs' } }));
  });
  assert.deepEqual(replies, [{ type: 'error', message: 'messages are JSON text' }, { type: 'subscribed', topic: { kind: 'runs' } }]);
  ws.close();
});

test('upload: streamed to the lab, importable by id; over the limit: 413, nothing kept', async () => {
  const port = s.server.port;
  const headers = { 'X-Lshlab-Token': s.server.token, 'Content-Type': 'application/octet-stream' };
  const text = Array.from({ length: 50 }, (_, i) => `line ${i} of the uploaded corpus about whales`).join('\n') + '\n';
  const up = await request(port, { method: 'POST', path: '/api/upload?name=../../corpus.txt', body: text, headers });
  assert.equal(up.status, 200, up.body);
  const r = json(up.body).result as { uploadId: string; name: string; bytes: number };
  assert.deepEqual([r.name, r.bytes], ['corpus.txt', Buffer.byteLength(text)]);
  // No tokenizer in this lab: the import fails cleanly, naming the missing default tokenizer.
  const imp = await apiPost(s, 'datasets.import', { source: { type: 'upload', uploadId: r.uploadId }, kind: 'text' });
  assert.equal(imp.status, 404, imp.body);
  assert.match(json(imp.body).error!.message, /tokenizer/);
  const again = await apiPost(s, 'datasets.import', { source: { type: 'upload', uploadId: r.uploadId }, kind: 'text' });
  assert.equal(again.status, 404, 'an upload is consumed by its import');
  const big = await request(port, { method: 'POST', path: '/api/upload?name=big.txt', body: Buffer.alloc(65 * 1024, 97), headers });
  assert.equal(big.status, 413);
  const left = fs.readdirSync(path.join(s.lab.dir, 'uploads')).flatMap((d) => fs.readdirSync(path.join(s.lab.dir, 'uploads', d)));
  assert.deepEqual(left, []);
});
