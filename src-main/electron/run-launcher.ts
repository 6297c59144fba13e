/**
 * run-launcher.ts: the run host's WorkerLauncher (training/host.ts) on Electron's utilityProcess,
 * the process kind Electron recommends for CPU-heavy, crash-prone work: a crash in the native
 * engine ends that utility process (the run becomes 'crashed'), never the app.
 *
 * Mapping from utilityProcess to WorkerHandle:
 *   send(m)        -> child.postMessage(m)   (structured clone, so NaN/Infinity survive as with
 *                                             fork's 'advanced' serialization); dropped once exited
 *   onMessage(cb)  -> child.on('message')    (the utility-worker.ts bridge posts the worker's
 *                                             process.send messages to parentPort)
 *   onExit(cb)     -> child.on('exit', code) -> cb(code, null): utilityProcess reports no signal
 *   kill(signal)   -> child.kill() (SIGTERM, reaped by Electron) for SIGTERM or no signal;
 *                     process.kill(pid, signal) for any other signal (SIGKILL: "end it now")
 *   pid            -> child.pid (undefined until the process has spawned, as Electron defines it)
 * The entry point is utility-worker.js (beside this file), which adapts parentPort to the
 * process.send/process.on('message') that training/worker.js expects, then loads it.
 *
 * It does not import electron at runtime: main.ts passes `utilityProcess` in.
 */
import * as path from 'node:path';
import type { UtilityProcess } from 'electron';
import type { ChildHandle, WorkerLauncher } from '../training/host.js';

/** The part of Electron's utilityProcess module the launcher uses. */
export interface UtilityProcessModule {
  fork(modulePath: string, args?: string[], options?: Electron.ForkOptions): UtilityProcess;
}

/** Compiled bridge entry: dist/src-main/electron/utility-worker.js. */
export const UTILITY_WORKER_PATH = path.join(__dirname, 'utility-worker.js');
/** The benchmark process's bridge entry (utility-bench.ts): benchmarks.run measures there, so
 *  benchmarks.cancel can end it. */
export const UTILITY_BENCH_PATH = path.join(__dirname, 'utility-bench.js');

export interface UtilityLauncherOptions {
  /** Entry module; utility-worker.js unless a test says otherwise. */
  modulePath?: string;
  /** What the OS and Electron's task manager call the process; 'lshlab training run' by default. */
  serviceName?: string;
  /** Extra environment for the training process (merged over process.env). */
  env?: Record<string, string>;
  /** Signal sender for kill(signal) other than SIGTERM; process.kill unless a test says otherwise. */
  signal?: (pid: number, signal: NodeJS.Signals) => void;
}

/** The training run launcher by default; with another `modulePath` (and message types S, R) any
 *  child of the same kind, e.g. the benchmark process (UTILITY_BENCH_PATH). */
export function utilityProcessLauncher(utilityProcess: UtilityProcessModule, opts?: UtilityLauncherOptions): WorkerLauncher;
export function utilityProcessLauncher<S, R>(utilityProcess: UtilityProcessModule, opts: UtilityLauncherOptions & { modulePath: string }): () => ChildHandle<S, R>;
export function utilityProcessLauncher<S, R>(utilityProcess: UtilityProcessModule, opts: UtilityLauncherOptions = {}): () => ChildHandle<S, R> {
  return () => {
    const child = utilityProcess.fork(opts.modulePath ?? UTILITY_WORKER_PATH, [], {
      serviceName: opts.serviceName ?? 'lshlab training run',
      // The engine's own messages (a native abort's text) go to the app's stderr, like fork's.
      stdio: 'inherit',
      env: { ...(process.env as Record<string, string>), ...opts.env },
    });
    let exited = false;
    child.on('exit', () => {
      exited = true;
    });
    const sendSignal = opts.signal ?? ((pid, signal) => process.kill(pid, signal));
    const handle: ChildHandle<S, R> = {
      get pid() {
        return child.pid;
      },
      send(m: S) {
        // Like fork's `if (child.connected)`: a message to a process that has gone is dropped.
        if (!exited) child.postMessage(m);
      },
      onMessage(cb: (m: R) => void) {
        child.on('message', (m: unknown) => cb(m as R));
      },
      onExit(cb: (code: number | null, signal: string | null) => void) {
        child.on('exit', (code: number) => cb(code, null));
      },
      kill(signal?: NodeJS.Signals) {
        if (exited) return;
        const pid = child.pid;
        if (signal === undefined || signal === 'SIGTERM' || pid === undefined) child.kill();
        else sendSignal(pid, signal);
      },
    };
    return handle;
  };
}
