/**
 * serve-child.ts: the real `lshlab serve` that `lshlab bench ui` drives, in a child process on a
 * free port (--port 0 --no-open --json) with the lab's data directory, exactly as a user starts it
 * (the e2e tests start it through this too: test/e2e/serve-process.ts). Resolves with the page URL (token in
 * the query) once the server prints its JSON line; stop() sends SIGTERM and waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

/** bin/lshlab.js of this installation (dist/src-main/cli/bench-ui/ -> the package root). */
const LSHLAB_BIN = path.resolve(__dirname, '..', '..', '..', '..', 'bin', 'lshlab.js');

export interface ServeChild {
  url: string;
  child: ChildProcess;
  /** What it printed so far, for error messages. */
  log(): string;
  stop(): Promise<void>;
}

export async function startServeChild(dataDir: string, timeoutMs = 30_000): Promise<ServeChild> {
  const child = spawn(process.execPath, [LSHLAB_BIN, 'serve', '--json', '--port', '0', '--no-open', '--data-dir', dataDir], {
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
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
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
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
