/**
 * serve-process.ts: starts the real `lshlab serve` for the end-to-end tests in a child process on
 * a free port with its own data directory, and reads the JSON line it prints when it is listening
 * (its url, with the token the page needs). Also finds Chromium for playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

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

export interface Served {
  /** The page to open, with ?token=. */
  url: string;
  child: ChildProcess;
  /** stdout + stderr so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export async function startServe(dataDir: string, timeoutMs = 30_000): Promise<Served> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'lshlab.js'), 'serve', '--json', '--port', '0', '--no-open', '--data-dir', dataDir], {
    cwd: REPO_ROOT,
    env: { ...process.env, LSHLAB_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lshlab serve printed no JSON line in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    let buf = '';
    child.stdout!.on('data', (d) => {
      out += d;
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const info = JSON.parse(line) as { url?: string; token?: string };
          if (!info.url) continue;
          const u = new URL(info.url);
          if (info.token && !u.searchParams.has('token')) u.searchParams.set('token', info.token);
          clearTimeout(timer);
          resolve(u.toString());
        } catch {
          /* not the line we wait for */
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lshlab serve exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    log: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
