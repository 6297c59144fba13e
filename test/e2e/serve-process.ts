/**
 * serve-process.ts: starts the real `lshlab serve` for the end-to-end tests in a child process on
 * a free port with its own data directory, and reads the JSON line it prints when it is listening
 * (its url, with the token the page needs). Also finds Chromium for playwright-core and runs
 * axe-core on a page.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { startServeChild, type ServeChild } from '../../src-main/cli/bench-ui/serve-child.js';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The Chromium to drive: $LSHLAB_CHROMIUM when set (only it), else Debian's /usr/bin/chromium; undefined if missing. */
export function findChromium(): string | undefined {
  const env = process.env['LSHLAB_CHROMIUM'];
  const candidates = env ? [env] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => fs.existsSync(p));
}

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** The page to open (`url`, with ?token=), the child, its output so far, and stop(). */
export type Served = ServeChild;

/** The real `lshlab serve` on a free port over `dataDir` (the same starter `lshlab bench ui` uses). */
export function startServe(dataDir: string, timeoutMs = 30_000): Promise<Served> {
  return startServeChild(dataDir, timeoutMs);
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
