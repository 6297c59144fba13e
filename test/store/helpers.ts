/**
 * helpers.ts: shared fixtures of the store tests: a temporary lab directory (and a store opened
 * over one), a NewRun factory, a file hash (to prove a refused file was not touched), and a child
 * process that runs a snippet against the compiled store. Not a test file itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, type LabStore } from '../../src-main/store/index.js';
import type { NewRun } from '../../src-main/store/types.js';
import { mulberry32 } from '../../src-main/data/random.js';

/** The compiled store, for child processes (this file runs from dist/test/store/). */
export const STORE_JS = path.resolve(__dirname, '../../src-main/store/index.js');

export interface TempLab {
  dir: string;
  db: string;
  cleanup(): void;
}

export function tempLab(prefix = 'lshlab-store-'): TempLab {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, db: path.join(dir, 'lab.db'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Runs f on a store opened over a fresh temporary lab (and its db file), then closes and removes it. */
export function withStore(f: (s: LabStore, db: string) => void): void {
  const t = tempLab();
  const s = openStore(t.db);
  try {
    f(s, t.db);
  } finally {
    s.close();
    t.cleanup();
  }
}

export function newRun(over: Partial<NewRun> = {}): NewRun {
  return {
    name: 'run',
    task: 'mlm',
    datasetName: 'wiki',
    modelConfig: { hiddenSize: 128, numHiddenLayers: 2 },
    attention: 'exact',
    attentionParams: {},
    trainConfig: { batchSize: 32, lr: 0.001 },
    seed: '42',
    ...over,
  };
}

export const sha256File = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Seeded PRNG (mulberry32) so a failing case can be replayed. */
export const rng = mulberry32;

/**
 * Starts `node -e <code>` with `openStore` and `file` in scope; resolves once the child has
 * printed a line matching `ready` (the child, its lines so far).
 */
export function startChild(file: string, code: string, ready: RegExp): Promise<{ child: ChildProcess; lines: string[] }> {
  const script = `const { openStore } = require(${JSON.stringify(STORE_JS)}); const file = ${JSON.stringify(file)};\n${code}`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child not ready after 20 s; stderr: ${err}`));
    }, 20_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (ready.test(line)) {
          clearTimeout(timer);
          resolve({ child, lines });
        }
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code ?? signal}) before it was ready; stderr: ${err}`));
    });
  });
}

export function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
