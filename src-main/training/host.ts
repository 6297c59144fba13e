/**
 * host.ts: the run host. It owns the database; each run trains in its own child process (worker.ts)
 * so a crash in native code ends that run as 'crashed' and nothing else. For each run it creates
 * the row, starts the process, turns the process's messages into metric points, evaluations and
 * checkpoint rows (MetricWriter batches the points), and sets the final status from how the
 * process ended:
 *   'done' -> finished, 'cancelled' -> cancelled, 'diverged' -> diverged (step and value),
 *   'error' -> failed (its message), exit without any of these -> crashed (signal or exit code).
 * Processes are started through a WorkerLauncher: child_process.fork here; Electron's
 * utilityProcess can implement the same interface later.
 * It does not parse flags or print: shells (cli/, later electron/ and server/) do.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabStore, RunRow } from '../store/types.js';
import type { HostMessage, StepMessage, WorkerMessage } from './protocol.js';
import { validateSpec, type RunSpec } from './spec.js';
import { MetricWriter, pointsOfStep } from './metric-writer.js';
import { describeEnvironment } from './environment.js';
import { loadEngine } from '../engine/index.js';

export interface WorkerHandle {
  readonly pid: number | undefined;
  send(m: HostMessage): void;
  onMessage(cb: (m: WorkerMessage) => void): void;
  onExit(cb: (code: number | null, signal: string | null) => void): void;
  kill(signal?: NodeJS.Signals): void;
}
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
  readonly pid: number | undefined;
  /** The run row once the process has ended and everything is written. */
  readonly done: Promise<RunRow>;
}

export interface RunHostOptions {
  launcher?: WorkerLauncher;
  /** Engine threads in each training process (default: all cores). */
  threads?: number;
  flushMs?: number;
}

/** The error text of a run whose host went away while it was active. */
export const ORPHAN_REASON =
  'the lshlab host stopped while this run was active (killed or crashed); metrics up to its last flush are kept';

export function runDirOf(dataDir: string, run: Pick<RunRow, 'uuid'>): string {
  return path.join(dataDir, 'runs', run.uuid);
}

/** The RunSpec a run row was created from (for resume and re-runs). */
export function specOfRun(row: RunRow): RunSpec {
  return { ...(row.trainConfig as unknown as RunSpec), model: row.modelConfig as unknown as RunSpec['model'] };
}

export class RunHost {
  constructor(
    readonly store: LabStore,
    readonly dataDir: string,
    private readonly opts: RunHostOptions = {},
  ) {}

  /** Runs a dead host left behind become crashed (call once, holding the host lock). */
  recoverOrphans(): RunRow[] {
    return this.store.runs.markOrphansCrashed(ORPHAN_REASON);
  }

  start(specIn: RunSpec, events: RunEvents = {}): RunHandle {
    const spec = validateSpec(specIn);
    const { model, attention, attentionParams, tags, notes, ...train } = spec;
    const store = this.store;
    const dataset = spec.dataset.startsWith('synthetic:') ? undefined : store.datasets.get(spec.dataset);
    if (!spec.dataset.startsWith('synthetic:') && !dataset)
      throw new Error(`dataset '${spec.dataset}' is not in the lab (see 'lshlab datasets list')`);
    let env: number | null = null;
    try {
      env = store.environments.record(describeEnvironment(loadEngine().info()));
    } catch {
      env = store.environments.record(describeEnvironment());
    }
    let run = store.runs.create({
      name: spec.name ?? `${spec.task}-${attention}`,
      task: spec.task,
      datasetName: spec.dataset,
      datasetId: dataset?.id ?? null,
      modelConfig: { ...model },
      attention,
      attentionParams,
      trainConfig: { ...train, attention, attentionParams },
      seed: spec.seed,
      ...(notes !== undefined ? { notes } : {}),
      ...(tags !== undefined ? { tags } : {}),
    });
    const runDir = runDirOf(this.dataDir, run);
    fs.mkdirSync(runDir, { recursive: true });
    const writer = new MetricWriter(store, run.id, this.opts.flushMs);
    const worker = (this.opts.launcher ?? forkLauncher)();
    run = store.runs.update(run.id, { status: 'running', startedAt: Date.now(), pid: worker.pid ?? null, environmentId: env });

    let terminal: WorkerMessage | undefined;
    let lastStep = 0;
    const done = new Promise<RunRow>((resolve) => {
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
      });
    });
    worker.send({
      type: 'start',
      runId: run.id,
      uuid: run.uuid,
      spec,
      dataDir: this.dataDir,
      runDir,
      ...(this.opts.threads !== undefined ? { threads: this.opts.threads } : {}),
    });
    return {
      run,
      cancel: () => worker.send({ type: 'cancel' }),
      kill: (signal = 'SIGKILL') => worker.kill(signal),
      get pid() {
        return worker.pid;
      },
      done,
    };
  }
}
