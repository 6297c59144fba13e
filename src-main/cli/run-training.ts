/**
 * run-training.ts: what `lshlab train` and `lshlab demo` share: opening the lab to host runs (any
 * number of hosts may share a lab), recovering runs whose hosting process died, and running one training to its end with a progress bar, Ctrl-C handling (first:
 * cancel after the current step, keeping a checkpoint; second: stop at once) and a summary.
 */
import * as os from 'node:os';
import { noteDeadRuns, type Context } from './command.js';
import { openStore, storePath } from '../store/index.js';
import type { LabStore, RunRow } from '../store/types.js';
import { RunHost } from '../training/host.js';
import type { RunSpec } from '../training/spec.js';
import { describeDevice, DEVICE_REQUEST_HELP, DEVICE_REQUEST_RE, precisionProblem, resolveDevice, type Precision, type ResolvedDevice } from '../training/device.js';
import { UsageError } from './args.js';
import { TrainProgress } from './train-progress.js';
import { num } from './format.js';

export interface Lab {
  store: LabStore;
  host: RunHost;
  dataDir: string;
  close(): void;
}

export function openLabAsHost(ctx: Context, command: string): Lab {
  const dataDir = ctx.ensureDataDir().dir;
  const store = openStore(storePath(dataDir));
  const owner = `${command} (pid ${process.pid} on ${os.hostname()})`;
  const host = new RunHost(store, dataDir, { owner, ...(ctx.globals.threads !== undefined ? { threads: ctx.globals.threads } : {}) });
  noteDeadRuns(ctx, host.recoverDeadRuns());
  return { store, host, dataDir, close: () => store.close() };
}

/** Trains one run to its end; returns the final row. A run that fails does not throw: see its status. */
export async function trainOne(ctx: Context, lab: Lab, spec: RunSpec, label?: string): Promise<RunRow> {
  const progress = new TrainProgress(ctx.stderr, label ?? spec.name ?? `${spec.task}-${spec.attention}`);
  const handle = lab.host.start(spec, {
    onStatus: (text) => {
      if (text !== 'exiting') progress.line(text);
    },
    onReady: (m) => {
      progress.begin(m.startStep);
      progress.line(
        `${num(m.numParameters)} parameters, ${m.trainExamples} training rows, ${m.totalSteps} steps` +
          (m.startStep > 0 ? ` (resuming at step ${m.startStep})` : '') +
          `, ${String(m.engine['threads'])} thread(s)`,
      );
    },
    onStep: (m) => progress.step(m),
    onEval: (m) =>
      progress.line(
        `eval step ${m.step} (${m.split}): ` +
          Object.entries(m.metrics)
            .filter(([k]) => k !== 'examples' && k !== 'predictions')
            .map(([k, v]) => `${k} ${num(v, 4)}`)
            .join(', '),
      ),
    onCheckpoint: (m) => progress.line(`checkpoint step ${m.step}: ${m.path}`),
  });
  progress.line(describeDevice(handle.device));
  if (handle.threads.note) progress.line(`threads: ${handle.threads.note}`);
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      progress.line('interrupt: cancelling after this step (Ctrl-C again to stop at once)');
      handle.cancel();
    } else handle.kill('SIGKILL');
  };
  process.on('SIGINT', onSigint);
  try {
    const row = await handle.done;
    progress.end(row.status + (row.error ? `: ${row.error}` : ''));
    return row;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export function describeEnd(row: RunRow): string {
  const dur = row.startedAt && row.endedAt ? `${num((row.endedAt - row.startedAt) / 1000)} s` : '-';
  return `run ${row.id} (${row.name}) ${row.status}${row.error ? `: ${row.error}` : ''} after step ${row.lastStep}, ${dur}`;
}

/** The --device flag of train, demo, bench train and bench attention. */
export const DEVICE_FLAG = {
  type: 'string',
  metavar: 'auto|cpu|cuda[:N]',
  description: 'device: auto (default: CUDA when it can train, else the CPU, saying why), cpu, cuda or cuda:N',
} as const;

/** `--precision` of train, demo and bench train: the GEMM precision, recorded with the run. */
export const PRECISION_FLAG = {
  type: 'string',
  metavar: 'fp32|tf32|bf16',
  description: 'GEMM precision: fp32 (default), tf32 (CUDA only: TF32 tensor cores, fp32 accumulation) or bf16 (CUDA only: bf16 GEMM operands and exact attention at head sizes 64/128 on bf16 tensor cores, fp32 accumulation, everything else fp32)',
} as const;

/** The --precision value, checked (a usage error naming the flag), or undefined when not given. */
export function precisionFlag(value: string | undefined, command: string): Precision | undefined {
  if (value === undefined) return undefined;
  const problem = precisionProblem(value);
  if (problem) throw new UsageError(`invalid value for --precision: ${problem}`, command);
  return value as Precision;
}

/** `--cuda-graphs on|off` of train, demo and bench train: replay CUDA steps as graphs (default on). */
export const CUDA_GRAPHS_FLAG = {
  type: 'string',
  metavar: 'on|off',
  description: 'CUDA only: replay each training step as a CUDA graph where it can (on, the default; same results bit for bit, the step is then timed only as a whole) or run every step eagerly (off)',
} as const;

/** The --cuda-graphs value as a boolean (a usage error naming the flag), or undefined when not given. */
export function cudaGraphsFlag(value: string | undefined, command: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') throw new UsageError(`invalid value for --cuda-graphs: '${value}' (expected on or off)`, command);
  return value === 'on';
}

/** The --device value, checked (a usage error naming the flag), or undefined when not given. */
export function deviceFlag(value: string | undefined, command: string): string | undefined {
  if (value !== undefined && !DEVICE_REQUEST_RE.test(value))
    throw new UsageError(`invalid value for --device: '${value}' (expected ${DEVICE_REQUEST_HELP})`, command);
  return value;
}

/**
 * --device of a command that runs in this process (bench train, bench attention, demo's checks):
 * checked, resolved against the engine's CUDA status (training/device.ts; a request that cannot
 * be met throws DeviceError, exit 1), and reported on stderr in one line.
 */
export function resolveDeviceFlag(
  ctx: Context,
  value: string | undefined,
  command: string,
  liveDevices: readonly string[] = [],
  job: { attention?: string; cudaUnsupported?: string; precision?: string } = {},
): ResolvedDevice {
  const request = deviceFlag(value, command);
  const info = ctx.engine().info();
  const placed = resolveDevice(request, { cpuModel: info.cpu.model, cuda: info.cuda, ...job }, liveDevices);
  ctx.note(`${command}: ${describeDevice(placed)}`);
  return placed;
}
