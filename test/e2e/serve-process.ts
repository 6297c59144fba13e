/**
 * serve-process.ts: starts the real `lshlab serve` for the end-to-end tests in a child process on
 * a free port with its own data directory, and reads the JSON line it prints when it is listening
 * (its url, with the token the page needs). Also finds Chromium for playwright-core.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
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
