/**
 * host.ts: the run host. Each run trains in its own child process (worker.ts) so a crash in native
 * code ends that run as 'crashed' and nothing else. Any number of hosts (several `lshlab train`,
 * the app, serve mode) may host runs of one lab at once: a host owns each of its runs through the
 * run's OS lock (run-owner.ts), taken before the row exists and released after its final status is
 * written. For each run it claims the lock, creates the row, starts the process, turns the process's messages into metric points, evaluations and
 * checkpoint rows (MetricWriter batches the points), and sets the final status from how the
 * process ended:
 *   'done' -> finished, 'cancelled' -> cancelled, 'diverged' -> diverged (step and value),
 *   'error' -> failed (its message), exit without any of these -> crashed (signal or exit code).
 * A cancel may be asked here (handle.cancel()) or from any other process (store.runs.requestCancel):
 * the host polls its runs' requests every CANCEL_POLL_MS and forwards them to the training process.
 * Without a thread count, a run takes an even share of the cores with the CPU runs of the lab that
 * are live when it starts.
 * Processes are started through a WorkerLauncher: child_process.fork here; Electron's
 * utilityProcess can implement the same interface later.
 * It does not parse flags or print: shells (cli/, later electron/ and server/) do.
 */
import { fork } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LabStore, RunRow } from '../store/types.js';
import type { HostMessage, StepMessage, WorkerMessage } from './protocol.js';
import { validateSpec, type RunSpec } from './spec.js';
import { MetricWriter, pointsOfStep } from './metric-writer.js';
import { describeEnvironment } from './environment.js';
import { loadEngine } from '../engine/index.js';
import type { EngineInfo } from '../engine/types.js';
import { resolveDevice, type ResolvedDevice } from './device.js';
import { RunClaim, recoverDeadRuns, runDirOf } from './run-owner.js';
import { lineageOf, readInitSource, runOfCheckpointDir, variantParameterSuffixes } from './init-from.js';
import { lineageOfRun, type InitLineage } from './lineage.js';

export { ORPHAN_REASON, runDirOf } from './run-owner.js';

/** How often a host looks for cancel requests recorded by other processes. */
export const CANCEL_POLL_MS = 250;

/** A child process that takes messages of type S and sends messages of type R (fork or Electron's utilityProcess). */
export interface ChildHandle<S, R> {
  readonly pid: number | undefined;
  send(m: S): void;
  onMessage(cb: (m: R) => void): void;
  onExit(cb: (code: number | null, signal: string | null) => void): void;
  kill(signal?: NodeJS.Signals): void;
}
export type WorkerHandle = ChildHandle<HostMessage, WorkerMessage>;
export type WorkerLauncher = () => WorkerHandle;

/** child_process.fork of worker.js, stdio inherited so native crash messages reach the terminal. */
export const forkLauncher: WorkerLauncher = () => {
  // 'advanced' (structured clone) serialization: NaN and Infinity survive, JSON would make them null.
  const child = fork(path.join(__dirname, 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  return {
    get pid() {
      return child.pid;
    },
    send: (m) => {
      if (child.connected) child.send(m);
    },
    onMessage: (cb) => void child.on('message', (m) => cb(m as WorkerMessage)),
    onExit: (cb) => void child.on('exit', (code, signal) => cb(code, signal)),
    kill: (signal = 'SIGTERM') => void child.kill(signal),
  };
};

export interface RunEvents {
  onStatus?(text: string): void;
  onReady?(m: Extract<WorkerMessage, { type: 'ready' }>): void;
  onStep?(m: StepMessage): void;
  onEval?(m: Extract<WorkerMessage, { type: 'eval' }>): void;
  onCheckpoint?(m: Extract<WorkerMessage, { type: 'checkpoint' }>): void;
}

export interface RunHandle {
  readonly run: RunRow;
  /** Asks the training process to stop after its current step (it saves a checkpoint first). */
  cancel(): void;
  /** Ends the training process at once (the run becomes crashed). */
  kill(signal?: NodeJS.Signals): void;
  /** Engine threads of the training process, and why (shared cores), for a status line. */
  readonly threads: { count: number | null; note: string | null };
  /** The device the run trains on, its name, and why (training/device.ts). */
  readonly device: ResolvedDevice;
  readonly pid: number | undefined;
  /** The run row once the process has ended and everything is written. */
  readonly done: Promise<RunRow>;
}

export interface RunHostOptions {
  launcher?: WorkerLauncher;
  /** Engine threads in each training process (default: an even share of the cores with the lab's live CPU runs). */
  threads?: number;
  flushMs?: number;
  /** Who hosts the runs, shown to other processes (default "lshlab (pid N on HOST)"). */
  owner?: string;
  /** Cores to share (default os.availableParallelism()). */
  cores?: number;
}

interface ActiveRun {
  id: number;
  cancel(): void;
  cancelForwarded: boolean;
}

/** The RunSpec a run row was created from (for resume and re-runs). */
export function specOfRun(row: RunRow): RunSpec {
  const { deviceInfo: _placed, ...trainConfig } = row.trainConfig as Record<string, unknown>;
  const spec = { ...(trainConfig as unknown as RunSpec), model: row.modelConfig as unknown as RunSpec['model'] };
  // The row keeps the lineage object (init-from.ts InitLineage) where the spec had the directory.
  const lineage = lineageOfRun(row);
  if (lineage) spec.initFrom = lineage.dir;
  return spec;
}

/**
 * The lineage of a fine-tuning run, before its row exists: an unreadable source fails here
 * (no row is created), except when resuming, where the weights come from the checkpoint and the
 * source may since have been removed: then the lineage keeps what the spec says.
 */
function lineageForSpec(store: LabStore, dataDir: string, spec: RunSpec): InitLineage | undefined {
  if (spec.initFrom === undefined) return undefined;
  try {
    const src = readInitSource(spec.initFrom);
    return lineageOf(src, spec.task, runOfCheckpointDir(store, dataDir, src.dir), variantParameterSuffixes(spec.attention, spec.attentionParams));
  } catch (e) {
    if (spec.fromCheckpoint === undefined) throw e;
    return { dir: spec.initFrom, kind: 'lshlab-run', sourceAttention: 'exact', ignored: [] };
  }
}

export class RunHost {
  constructor(
    readonly store: LabStore,
    readonly dataDir: string,
    private readonly opts: RunHostOptions = {},
  ) {}

  private readonly active = new Map<number, ActiveRun>();
  private poll: NodeJS.Timeout | undefined;

  /** Active runs whose hosting process has died become crashed; returns them. */
  recoverDeadRuns(): RunRow[] {
    return recoverDeadRuns(this.store, this.dataDir);
  }

  /** Forwards cancel requests recorded by other processes to the training processes. */
  private pollCancels(): void {
    const pending = [...this.active.values()].filter((a) => !a.cancelForwarded);
    if (pending.length === 0) return;
    let ids: number[];
    try {
      ids = this.store.runs.cancelRequested(pending.map((a) => a.id));
    } catch {
      return; // the database is busy or closing: ask again next tick
    }
    for (const id of ids) {
      const a = this.active.get(id);
      if (a && !a.cancelForwarded) {
        a.cancelForwarded = true;
        a.cancel();
      }
    }
  }

  private track(a: ActiveRun): void {
    this.active.set(a.id, a);
    if (!this.poll) {
      this.poll = setInterval(() => this.pollCancels(), CANCEL_POLL_MS);
      this.poll.unref();
    }
  }

  private untrack(id: number): void {
    this.active.delete(id);
    if (this.active.size === 0 && this.poll) {
      clearInterval(this.poll);
      this.poll = undefined;
    }
  }

  start(specIn: RunSpec, events: RunEvents = {}): RunHandle {
    const spec = validateSpec(specIn);
    const { model, attention, attentionParams, tags, notes, ...train } = spec;
    const store = this.store;
    const lineage = lineageForSpec(store, this.dataDir, spec);
    const dataset = spec.dataset.startsWith('synthetic:') ? undefined : store.datasets.get(spec.dataset);
    if (!spec.dataset.startsWith('synthetic:') && !dataset)
      throw new Error(`dataset '${spec.dataset}' is not in the lab (see 'lshlab datasets list')`);
    let info: EngineInfo | undefined;
    try {
      info = loadEngine().info();
    } catch {
      info = undefined;
    }
    // Before any row exists: a device request that cannot be met fails here (training/device.ts).
    const placed = resolveDevice(
      spec.device,
      { cpuModel: info?.cpu.model ?? os.cpus()[0]?.model ?? 'unknown', cuda: info?.cuda, attention, ...(spec.precision !== undefined ? { precision: spec.precision } : {}) },
      store.runs.active().map((r) => r.device),
    );
    const env = store.environments.record(describeEnvironment(info));
    const uuid = crypto.randomBytes(16).toString('hex');
    const claim = RunClaim.take(this.dataDir, uuid);
    const cores = this.opts.cores ?? os.availableParallelism();
    let run: RunRow;
    try {
      run = store.runs.create({
      uuid,
      status: 'running',
      device: placed.device,
      ...(this.opts.threads !== undefined ? { threads: this.opts.threads } : { shareCores: cores }),
      owner: this.opts.owner ?? `lshlab (pid ${process.pid} on ${os.hostname()})`,
      name: spec.name ?? `${spec.task}-${attention}`,
      task: spec.task,
      datasetName: spec.dataset,
      datasetId: dataset?.id ?? null,
      modelConfig: { ...model },
      attention,
      attentionParams,
      trainConfig: {
        ...train,
        attention,
        attentionParams,
        ...(lineage ? { initFrom: lineage } : {}),
        deviceInfo: { device: placed.device, name: placed.name, why: placed.why, precision: placed.precision },
      },
      seed: spec.seed,
      ...(notes !== undefined ? { notes } : {}),
      ...(tags !== undefined ? { tags } : {}),
      });
    } catch (e) {
      claim.release();
      throw e;
    }
    const runDir = runDirOf(this.dataDir, run);
    const writer = new MetricWriter(store, run.id, this.opts.flushMs);
    let worker: WorkerHandle;
    try {
      worker = (this.opts.launcher ?? forkLauncher)();
      run = store.runs.update(run.id, { startedAt: Date.now(), pid: worker.pid ?? null, environmentId: env });
    } catch (e) {
      store.runs.update(run.id, { status: 'failed', error: `could not start the training process: ${(e as Error).message}`, endedAt: Date.now() });
      claim.release();
      throw e;
    }
    const threads = run.threads;
    const threadNote =
      this.opts.threads === undefined && threads !== null && threads < cores
        ? `${threads} of ${cores} cores: other CPU runs of this lab are training (give --threads N to choose)`
        : null;
    this.track({ id: run.id, cancel: () => worker.send({ type: 'cancel' }), cancelForwarded: false });

    let terminal: WorkerMessage | undefined;
    let lastStep = 0;
    const done = new Promise<RunRow>((resolve, reject) => {
      worker.onMessage((m) => {
        try {
          switch (m.type) {
            case 'status':
              events.onStatus?.(m.text);
              break;
            case 'ready':
              // A resumed run's steps start after the checkpoint's: rates must not count those.
              if (m.startStep > 0) writer.add([{ key: 'train/start_step', step: m.startStep, value: m.startStep }]);
              events.onReady?.(m);
              break;
            case 'step':
              lastStep = m.step;
              writer.add(pointsOfStep(m));
              events.onStep?.(m);
              break;
            case 'eval':
              writer.flush();
              store.evaluations.add(run.id, m.step, m.split, { ...m.metrics, seconds: m.seconds });
              events.onEval?.(m);
              break;
            case 'checkpoint':
              store.checkpoints.add({ runId: run.id, step: m.step, path: m.path, bytes: m.bytes });
              events.onCheckpoint?.(m);
              break;
            default:
              terminal = m;
          }
        } catch (err) {
          // A store failure must not leave the child training blind: stop it; the exit handler records why.
          terminal = { type: 'error', message: `host could not record the run: ${(err as Error).message}` };
          worker.kill('SIGKILL');
        }
      });
      worker.onExit((code, signal) => {
        try {
          writer.flush();
          const t = terminal;
          const patch = { endedAt: Date.now(), pid: null } as const;
          let row: RunRow;
          if (t?.type === 'done') row = store.runs.update(run.id, { ...patch, status: 'finished', error: null });
          else if (t?.type === 'cancelled') row = store.runs.update(run.id, { ...patch, status: 'cancelled', error: null });
          else if (t?.type === 'diverged')
            row = store.runs.update(run.id, { ...patch, status: 'diverged', error: `${t.what} is ${t.value} at step ${t.step}` });
          else if (t?.type === 'error') row = store.runs.update(run.id, { ...patch, status: 'failed', error: t.message });
          else {
            const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
            row = store.runs.update(run.id, { ...patch, status: 'crashed', error: `training process ${how} after step ${lastStep}` });
          }
          resolve(row);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        } finally {
          // Only now: a process probing the lock must find the final status already written (or,
          // if it could not be written, take the run as crashed).
          this.untrack(run.id);
          claim.release();
        }
      });
    });
    worker.send({
      type: 'start',
      runId: run.id,
      uuid: run.uuid,
      spec: { ...spec, device: placed.device },  // the worker trains where the host placed it
      dataDir: this.dataDir,
      runDir,
      ...(threads !== null ? { threads } : {}),
    });
    return {
      run,
      threads: { count: threads, note: threadNote },
      device: placed,
      cancel: () => worker.send({ type: 'cancel' }),
      kill: (signal = 'SIGKILL') => worker.kill(signal),
      get pid() {
        return worker.pid;
      },
      done,
    };
  }
}
