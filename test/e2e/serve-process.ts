/**
 * serve-process.ts: starts the real `lshlab serve` for the end-to-end tests in a child process on
 * a free port with its own data directory, and reads the JSON line it prints when it is listening
 * (its url, with the token the page needs). Also prepares a lab with a text dataset, finds Chromium for playwright-core (skipping a
 * test without it), opens the app in a page that collects its errors, and runs axe-core on a page.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createLabApi, type LabApiInstance } from '../../src-main/api/lab-api.js';
import { startServeChild, type ServeChild } from '../../src-main/cli/bench-ui/serve-child.js';
import { makeLab, TEST_TOKENIZER, type Lab } from '../lab/lab-fixture.js';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** Where the page tests write their screenshots. */
export const ARTIFACTS = path.join(REPO_ROOT, 'test', 'artifacts');

/** The Chromium to drive: $LSHLAB_CHROMIUM when set (only it), else Debian's /usr/bin/chromium; undefined if missing. */
export function findChromium(): string | undefined {
  const env = process.env['LSHLAB_CHROMIUM'];
  const candidates = env ? [env] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => fs.existsSync(p));
}

/**
 * The Chromium for the `what` end-to-end test, once the built renderer is there and ARTIFACTS
 * exists; undefined, the test skipped saying why, when there is none.
 */
export function chromiumOrSkip(t: TestContext, what: string): string | undefined {
  const exe = findChromium();
  if (!exe) {
    t.skip(`no Chromium found (set LSHLAB_CHROMIUM or install /usr/bin/chromium): the ${what} end-to-end test did not run`);
    return undefined;
  }
  assert.ok(fs.existsSync(path.join(REPO_ROOT, 'dist', 'renderer', 'index.html')), 'dist/renderer/index.html is missing: run npm run build:renderer');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return exe;
}

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * A lab (makeLab) with `text` imported as the text dataset 'notes' (the test tokenizer) through
 * an in-process api (engine `threads` when given), which `then` may use further before it closes.
 */
export async function labWithNotes(text: string, then?: (api: LabApiInstance) => Promise<void>, threads?: number): Promise<Lab> {
  const lab = await makeLab();
  const api = createLabApi({ dataDir: lab.dir, allowedRoots: [path.dirname(lab.dir)], log: () => undefined, ...(threads === undefined ? {} : { threads }) });
  try {
    await api.call('datasets.import', { source: { type: 'path', path: lab.file('notes.txt', text) }, kind: 'text', name: 'notes', tokenizer: TEST_TOKENIZER });
    await then?.(api);
  } finally {
    await api.close();
  }
  return lab;
}

/** The page to open (`url`, with ?token=), the child, its output so far, and stop(). */
export type Served = ServeChild;

/** The real `lshlab serve` on a free port over `dataDir` (the same starter `lshlab bench ui` uses). */
export function startServe(dataDir: string, timeoutMs = 30_000): Promise<Served> {
  return startServeChild(dataDir, timeoutMs);
}

/**
 * A new page (of `viewport`) on the app at `url`, once its main navigation shows. Uncaught page
 * errors, and console errors of the strict CSP (the app must run under it), go to `errors`.
 */
export async function openApp(browser: Browser, url: string, errors: string[], viewport = { width: 1400, height: 1000 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  await page.goto(url);
  await page.waitForSelector('nav[aria-label="Main"]');
  return page;
}

/** `err` with the end of the serve child's output appended (for a failing page test). */
export function withServeLog(err: unknown, served: Served, chars = 4000): Error {
  return new Error(`${err instanceof Error ? err.message : String(err)}\n--- lshlab serve output ---\n${served.log().slice(-chars)}`);
}

const AXE = path.join(REPO_ROOT, 'node_modules', 'axe-core', 'axe.min.js');

/** axe-core on the current page: no 'serious' or 'critical' violations. The page's CSP
 *  (script-src 'self') blocks injected <script> tags, which the app must live with, so the axe
 *  source is evaluated through the DevTools protocol instead (not subject to CSP). */
export async function checkA11y(page: Page, name: string): Promise<void> {
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(fs.readFileSync(AXE, 'utf8'));
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) =>
    r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 4).map((n) => n.target.join(' ')) })))`)) as {
    id: string; impact: string; help: string; targets: string[];
  }[];
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${name}: accessibility violations:\n${JSON.stringify(bad, null, 2)}`);
}
