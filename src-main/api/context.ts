/**
 * context.ts: what every operation handler gets: the lab's data directory, one store connection
 * for this process (SQLite WAL with a busy timeout: handlers keep transactions short), the run
 * host that starts this process's runs and their handles, the event hub, running jobs (cancellable
 * imports and benchmarks), uploads, the engine, and the import-path policy (allowed roots, serve mode).
 *
 * It implements no operation (datasets.ts, runs.ts, ... do) and knows no transport.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadEngine, type NativeAddon } from '../engine/index.js';
import { openStore, storePath } from '../store/index.js';
import type { LabStore } from '../store/types.js';
import type { BenchLauncher } from '../lab/bench-process.js';
import type { CudaScalingRunner } from '../lab/bench-attention-cuda.js';
import type { CudaStatus } from '../training/device.js';
import { RunHost, type RunHandle, type WorkerLauncher } from '../training/host.js';
import { recoverDeadRuns } from '../training/run-owner.js';
import { ApiError, type DatasetStatistics } from './contract.js';
import { EventHub, StepThrottle } from './events.js';
import { UploadRegistry } from './uploads.js';

export interface LabApiOptions {
  /** The lab data directory (created if missing). */
  dataDir: string;
  /** Roots a datasets.import path must lie under, symlinks resolved (serve mode: home, data dir,
   *  --allow-path). Absent: any path (the desktop app runs on the user's own machine). */
  allowedRoots?: readonly string[];
  /** Engine threads of each training process (default: the host's even share of the cores). */
  threads?: number;
  /** Who hosts this process's runs, shown to other processes ("lshlab serve (pid 1 on box)"). */
  owner?: string;
  /** Training process launcher (default child_process.fork; Electron may pass utilityProcess). */
  launcher?: WorkerLauncher;
  /** Benchmark process launcher (default child_process.fork of lab/bench-child.js; the desktop
   *  app passes its utilityProcess one: the packaged binary cannot run as Node). */
  benchLauncher?: BenchLauncher;
  /** benchmarks.run's CUDA scaling sweep (device 'cuda[:N]'): how it runs (default: the native
   *  driver, lab/bench-attention-cuda.ts) and the CUDA status it is checked against (default: the
   *  engine's); tests fake both. */
  cudaBench?: { run?: CudaScalingRunner; status?: () => CudaStatus };
  /** How often runs hosted by other processes are polled while someone watches them (ms). */
  pollMs?: number;
  /** Internal errors and diagnostics (default stderr). */
  log?: (text: string) => void;
}

export class ApiContext {
  readonly dataDir: string;
  readonly log: (text: string) => void;
  readonly events: EventHub;
  readonly steps: StepThrottle;
  readonly uploads: UploadRegistry;
  /** Runs this process hosts, by id. */
  readonly local = new Map<number, RunHandle>();
  /** Cancellable jobs (imports, add-builtin, benchmarks) by client job id. */
  readonly jobs = new Map<string, AbortController>();
  /** The ids in `jobs` that are benchmarks (benchmarks.cancel cancels only those). */
  readonly benchmarkJobs = new Set<string>();
  /** Dataset statistics by token-cache checksum (they never change for a given cache). */
  readonly statsCache = new Map<string, DatasetStatistics>();
  private storeConn: LabStore | undefined;
  private hostObj: RunHost | undefined;
  private engineObj: NativeAddon | undefined;
  private roots: string[] | undefined;

  constructor(readonly opts: LabApiOptions) {
    this.dataDir = path.resolve(opts.dataDir);
    fs.mkdirSync(this.dataDir, { recursive: true });
    this.log = opts.log ?? ((t) => process.stderr.write(t + '\n'));
    this.events = new EventHub(this.log);
    this.steps = new StepThrottle((e) => this.events.emit(e));
    this.uploads = new UploadRegistry(this.dataDir, (e) => this.events.emit(e));
  }

  store(): LabStore {
    if (!this.storeConn) {
      this.storeConn = openStore(storePath(this.dataDir));
      // As every lab command does: runs whose hosting process died are marked crashed.
      for (const r of recoverDeadRuns(this.storeConn, this.dataDir)) this.log(`lshlab api: run ${r.id} (${r.name}) was left running by a process that stopped: marked crashed`);
    }
    return this.storeConn;
  }

  host(): RunHost {
    this.hostObj ??= new RunHost(this.store(), this.dataDir, {
      ...(this.opts.threads !== undefined ? { threads: this.opts.threads } : {}),
      ...(this.opts.owner !== undefined ? { owner: this.opts.owner } : {}),
      ...(this.opts.launcher !== undefined ? { launcher: this.opts.launcher } : {}),
    });
    return this.hostObj;
  }

  engine(): NativeAddon {
    this.engineObj ??= loadEngine();
    return this.engineObj;
  }

  /** Starts a cancellable job; a job id already running is a conflict. */
  beginJob(jobId: string | undefined): { signal: AbortSignal; end(): void } {
    const ac = new AbortController();
    if (jobId === undefined) return { signal: ac.signal, end: () => undefined };
    if (this.jobs.has(jobId)) throw new ApiError('conflict', `a job with id '${jobId}' is already running`);
    this.jobs.set(jobId, ac);
    return { signal: ac.signal, end: () => void this.jobs.delete(jobId) };
  }

  /** The real path of `p` if datasets.import may read it; ApiError 'forbidden' if outside the allowed roots. */
  checkImportPath(p: string): string {
    if (!path.isAbsolute(p)) throw new ApiError('bad-request', `source.path: give an absolute path on the serving machine, got '${p}'`);
    // Checked on the path as written (so nothing outside is even probed), then on its real path.
    this.checkInsideRoots(path.resolve(p), p);
    let real: string;
    try {
      real = fs.realpathSync(p);
    } catch {
      throw new ApiError('not-found', `source.path: ${p}: no such file`);
    }
    this.checkInsideRoots(real, p);
    return real;
  }

  private checkInsideRoots(abs: string, given: string): void {
    if (this.opts.allowedRoots === undefined) return;
    this.roots ??= this.opts.allowedRoots.map((r) => {
      try {
        return fs.realpathSync(r);
      } catch {
        return path.resolve(r);
      }
    });
    const inside = this.roots.some((r) => abs === r || abs.startsWith(r.endsWith(path.sep) ? r : r + path.sep));
    if (!inside)
      throw new ApiError('forbidden', `source.path: ${given} is outside the folders this server may read (${this.roots.join(', ')}); ` +
        "start 'lshlab serve' with --allow-path DIR to add one, or upload the file");
  }

  /** Closes the store (after the runs this process hosts have ended). */
  closeStore(): void {
    this.steps.close();
    this.storeConn?.close();
    this.storeConn = undefined;
    this.hostObj = undefined;
  }
}
