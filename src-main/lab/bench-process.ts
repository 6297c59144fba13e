/**
 * bench-process.ts: runs one attention benchmark (the engine's benchAttention) in a child process
 * of its own, so that it can be stopped. The engine cannot interrupt a measurement, and the
 * thread it measures on cannot be killed; a process can. benchmarks.run (api/benchmarks.ts) runs
 * here; aborting the signal (benchmarks.cancel) kills the child at once (SIGKILL: half a
 * measurement is worth nothing) and the call ends as cancelled, with no result, once the child
 * has exited: no benchmark keeps a core busy after its cancel returns.
 *
 * The child is bench-child.ts: it loads the engine, measures, sends progress lines and its result,
 * and exits. It is started by fork here, or through Electron's utilityProcess (utility-bench.ts)
 * in the desktop app, whose packaged binary cannot run as Node. Nothing here records anything.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import type { BenchAttentionOptions } from '../engine/types.js';
import type { ChildHandle } from '../training/host.js';

/** What the benchmark process is asked to measure (once). */
export interface BenchRequest {
  type: 'run';
  options: Omit<BenchAttentionOptions, 'onProgress'>;
  /** Send the engine's progress lines (sweep and scaling modes print them). */
  progress: boolean;
}

/** Benchmark process -> parent. */
export type BenchReply =
  | { type: 'progress'; line: string }
  | { type: 'result'; result: Record<string, unknown> }
  | { type: 'error'; message: string };

export type BenchChild = ChildHandle<BenchRequest, BenchReply>;
export type BenchLauncher = () => BenchChild;

/** How a benchmark ended: measured, or cancelled before it finished (no result). */
export type BenchOutcome = { status: 'done'; result: Record<string, unknown> } | { status: 'cancelled' };

/** The benchmark failed: the engine's own message (it names the variant or parameter at fault). */
export class BenchmarkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchmarkError';
  }
}

/** child_process.fork of bench-child.js; stdio inherited so a native crash's message is seen. */
export const forkBenchLauncher: BenchLauncher = () => {
  // 'advanced' serialization: NaN and Infinity in a result survive (JSON would make them null).
  const child = fork(path.join(__dirname, 'bench-child.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  return {
    get pid() {
      return child.pid;
    },
    send: (m) => {
      if (child.connected) child.send(m);
    },
    onMessage: (cb) => void child.on('message', (m) => cb(m as BenchReply)),
    onExit: (cb) => void child.on('exit', (code, signal) => cb(code, signal)),
    kill: (signal = 'SIGTERM') => void child.kill(signal),
  };
};

export interface BenchRunOptions {
  launcher?: BenchLauncher;
  /** Aborting it cancels the benchmark. */
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
}

/** Measures `options` in a child process; resolves with the result or 'cancelled', rejects with BenchmarkError. */
export function runBenchmarkProcess(options: Omit<BenchAttentionOptions, 'onProgress'>, o: BenchRunOptions = {}): Promise<BenchOutcome> {
  if (o.signal?.aborted) return Promise.resolve({ status: 'cancelled' });
  const child = (o.launcher ?? forkBenchLauncher)();
  return new Promise<BenchOutcome>((resolve, reject) => {
    let settled = false;
    let cancelled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener('abort', onAbort);
      f();
    };
    const onAbort = (): void => {
      if (settled) return;
      cancelled = true;
      child.kill('SIGKILL');
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.onMessage((m) => {
      if (m.type === 'progress') {
        if (!cancelled) o.onProgress?.(m.line);
      } else if (m.type === 'result') {
        // A result that arrives before the kill takes effect is still a full measurement.
        settle(() => resolve({ status: 'done', result: m.result }));
      } else if (m.type === 'error') {
        settle(() => reject(new BenchmarkError(m.message)));
      }
    });
    child.onExit((code, signal) => {
      if (cancelled) settle(() => resolve({ status: 'cancelled' }));
      else settle(() => reject(new Error(`the benchmark process ended without a result (${signal !== null ? `signal ${signal}` : `exit code ${code}`})`)));
    });
    child.send({ type: 'run', options, progress: o.onProgress !== undefined });
  });
}
