/**
 * protocol.test.ts: the app:// handler serves the renderer folder and nothing else. Traversal in
 * every spelling we could think of (literal, %2e, %2f, %5c, double-encoded, NUL, drive letters,
 * a symlink out of the folder, another host) never returns a byte of a file outside it; index.html
 * comes back with the CSP header; refusals carry it too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  APP_INDEX_URL, CONTENT_SECURITY_POLICY, isAppUrl, privilegedSchemes, resolveRendererPath, serveRendererRequest, setupAppProtocol,
} from '../../src-main/electron/protocol.js';
import { FakeProtocol } from './fakes.js';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-RENDERER';

/** <tmp>/lab/package.json (secret), <tmp>/lab/dist/renderer/{index.html, assets/app.js, link -> ..}. */
function makeTree(): { base: string; root: string } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-protocol-'));
  const root = path.join(base, 'dist', 'renderer');
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(base, 'package.json'), SECRET);
  fs.writeFileSync(path.join(base, 'dist', 'secret.txt'), SECRET);
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>lshlab</title><script type="module" src="./assets/app.js"></script>');
  fs.writeFileSync(path.join(root, 'assets', 'app.js'), 'console.log("app")');
  fs.writeFileSync(path.join(root, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  fs.symlinkSync(path.join(base, 'dist'), path.join(root, 'escape'));
  return { base, root };
}

const get = (root: string, url: string, method = 'GET') => serveRendererRequest(root, new Request(url, { method }));

test('index.html is served with the CSP and the right type; / means index.html', async () => {
  const { base, root } = makeTree();
  try {
    for (const url of [APP_INDEX_URL, 'app://lshlab/', 'app://lshlab']) {
      const r = await get(root, url);
      assert.equal(r.status, 200, url);
      assert.equal(r.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      assert.match(r.headers.get('content-type')!, /^text\/html/);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.match(await r.text(), /<title>lshlab<\/title>/);
    }
    const js = await get(root, 'app://lshlab/assets/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type')!, /^text\/javascript/);
    assert.equal((await get(root, 'app://lshlab/assets/logo.svg')).headers.get('content-type'), 'image/svg+xml');
    const head = await get(root, APP_INDEX_URL, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('the CSP is the strict one: self only, no inline script, no objects, no framing, no base', () => {
  for (const directive of [
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:",
    "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'",
  ])
    assert.ok(CONTENT_SECURITY_POLICY.split('; ').includes(directive), directive);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-eval|script-src[^;]*unsafe-inline|\*/);
});

test('path traversal never leaves dist/renderer, however it is spelled', async () => {
  const { base, root } = makeTree();
  try {
    const attempts = [
      'app://lshlab/../../package.json',
      'app://lshlab/%2e%2e/%2e%2e/package.json',
      'app://lshlab/%2E%2E/%2E%2E/package.json',
      'app://lshlab/.%2e/.%2e/package.json',
      'app://lshlab/..%2f..%2fpackage.json',
      'app://lshlab/%2e%2e%2f%2e%2e%2fpackage.json',
      'app://lshlab/assets/..%2f..%2f..%2fpackage.json',
      'app://lshlab/..%5c..%5cpackage.json',
      'app://lshlab/%5c..%5c..%5cpackage.json',
      'app://lshlab/..%252f..%252fpackage.json',
      'app://lshlab/index.html%00.js',
      'app://lshlab/%00',
      'app://lshlab/C:/Windows/win.ini',
      'app://lshlab/c%3a%5cWindows%5cwin.ini',
      `app://lshlab/${encodeURIComponent(path.join(base, 'package.json'))}`,
      'app://lshlab//etc/passwd',
      'app://lshlab/escape/secret.txt',
      'app://lshlab/escape/../package.json',
      'app://lshlab/%E0%A4%A',
      'app://evil/index.html',
      'app://lshlab.evil/index.html',
    ];
    for (const url of attempts) {
      const r = await get(root, url);
      const body = await r.text();
      assert.notEqual(r.status, 200, `${url} was served`);
      assert.ok(!body.includes(SECRET), `${url} leaked the file`);
      assert.equal(r.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, `${url}: refusal without CSP`);
    }
    // The lexical check alone, for the spellings that decode to '..': refused before any disk access.
    for (const url of ['app://lshlab/..%2f..%2fpackage.json', 'app://lshlab/..%5cpackage.json'])
      assert.equal((resolveRendererPath(root, url) as { status?: number }).status, 403, url);
    // Credentials in the URL (a Request refuses to carry them; the resolver refuses too).
    assert.equal((resolveRendererPath(root, 'app://user@lshlab/index.html') as { status?: number }).status, 404);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('only GET and HEAD; missing files and folders are 404', async () => {
  const { base, root } = makeTree();
  try {
    assert.equal((await get(root, APP_INDEX_URL, 'POST')).status, 405);
    assert.equal((await get(root, 'app://lshlab/missing.js')).status, 404);
    assert.equal((await get(root, 'app://lshlab/assets')).status, 404);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('setupAppProtocol registers the app scheme; the scheme is standard and secure, nothing more', async () => {
  const { base, root } = makeTree();
  try {
    const protocol = new FakeProtocol();
    setupAppProtocol(protocol as never, root);
    const handler = protocol.handlers.get('app');
    assert.ok(handler);
    assert.equal((await handler(new Request(APP_INDEX_URL))).status, 200);
    assert.notEqual((await handler(new Request('app://lshlab/../../package.json'))).status, 200);
    const [scheme] = privilegedSchemes();
    assert.deepEqual(scheme, { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } });
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('isAppUrl accepts our origin only', () => {
  for (const u of ['app://lshlab/index.html', 'app://lshlab/', 'app://lshlab/#/runs/3']) assert.ok(isAppUrl(u), u);
  for (const u of ['app://evil/', 'app://lshlab.evil/', 'https://lshlab/', 'file:///index.html', 'app://x@lshlab/', 'devtools://devtools/', '', undefined, null, 'not a url'])
    assert.ok(!isAppUrl(u as string), String(u));
});

test('the built renderer (dist/renderer, when built) is served whole and fits the CSP', async (t) => {
  const root = path.join(__dirname, '..', '..', 'renderer');
  if (!fs.existsSync(path.join(root, 'index.html'))) return t.skip('dist/renderer is not built (npm run build:renderer)');
  const index = await (await get(root, APP_INDEX_URL)).text();
  // script-src 'self' forbids inline scripts and event-handler attributes: the page must have none.
  assert.doesNotMatch(index, /<script(?![^>]*\bsrc=)[^>]*>/i, 'inline <script>');
  assert.doesNotMatch(index, /\son[a-z]+=/i, 'inline event handler');
  const refs = [...index.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((r) => !/^(data:|#)/.test(r));
  assert.ok(refs.length > 0);
  for (const ref of refs) {
    assert.doesNotMatch(ref, /^[a-z]+:\/\//i, `${ref}: remote content`);
    const r = await get(root, new URL(ref, APP_INDEX_URL).href);
    assert.equal(r.status, 200, ref);
  }
});
