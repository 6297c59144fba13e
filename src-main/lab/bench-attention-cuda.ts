/**
 * The attention scaling sweep on a CUDA device, for `lshlab bench attention --scaling --device cuda`.
 * The sweep itself is C++ (`lshlab-native bench-attention --device cuda --scaling --json`,
 * native/tools/cmd_bench_attention_cuda.cc): it validates each variant's kernels against the CPU
 * variant at the smallest n, then times forward and forward+backward with CUDA events. The CLI
 * runs that driver as a child process (the same binary bench/gpu-check.sh runs on GPU machines
 * without Node), so both paths print the same rows. The device index goes through
 * CUDA_VISIBLE_DEVICES, so the driver's device 0 is the one the user chose.
 *
 * The API's benchmarks.run (api/benchmarks.ts) runs the same driver: the driver already is a
 * process of its own, so an AbortSignal (benchmarks.cancel) kills it at once (SIGKILL: half a
 * sweep is worth nothing) and the call rejects with CudaScalingAborted once it has exited. What
 * the CLI and the API both record (kind attention/scaling-cuda) and the progress line they both
 * print are built here too, so the two cannot drift apart.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { packageVersion } from '../engine/index.js';
import { nativeDriverPath } from '../engine/paths.js';
import type { ResolvedDevice } from '../training/device.js';

export interface CudaScalingOptions {
  /** CUDA device index (cuda:N). */
  device: number;
  /** Variant names or "name:k=v:k=v" configurations; default: every variant with its defaults. */
  variants?: string[];
  minN?: number;
  maxN?: number;
  batch?: number;
  heads?: number;
  headDim?: number;
  /** Seconds of timing per variant configuration. */
  budgetS?: number;
  quick?: boolean;
}

/** One line of the driver: a timed (configuration, n) cell, or a skip / error line. */
export type CudaScalingRow = Record<string, unknown>;

export interface CudaScalingResult {
  gpu: string;
  rows: CudaScalingRow[];
  reproduce: string;
}

/** How the sweep is run: runCudaScaling on the native driver, or a fake in tests (api context). */
export type CudaScalingRunner = (o: CudaScalingOptions, onRow: (row: CudaScalingRow) => void, signal?: AbortSignal) => Promise<CudaScalingResult>;

/** The sweep was cancelled (its signal aborted): the driver was killed and has exited. */
export class CudaScalingAborted extends Error {
  constructor() {
    super('the CUDA scaling sweep was cancelled');
    this.name = 'AbortError';
  }
}

/** True for CudaScalingAborted and any other AbortError (e.g. a fake runner's). */
export const isAbortError = (e: unknown): boolean => e instanceof Error && e.name === 'AbortError';

/** The driver's arguments for these options (exported for tests). */
export function cudaScalingArgs(o: CudaScalingOptions): string[] {
  const args = ['bench-attention', '--device', 'cuda', '--scaling', '--json'];
  const add = (flag: string, v: number | undefined): void => {
    if (v !== undefined) args.push(flag, String(v));
  };
  if (o.variants?.length) args.push('--variants', o.variants.join(','));
  add('--min-n', o.minN);
  add('--max-n', o.maxN);
  add('--batch', o.batch);
  add('--heads', o.heads);
  add('--head-dim', o.headDim);
  add('--variant-budget-s', o.budgetS);
  if (o.quick) args.push('--quick');
  return args;
}

/**
 * Runs the sweep; onRow sees each row as the driver prints it (progress). Rejects when the driver
 * is missing, exits non-zero (its message included), or says CUDA is unavailable; with
 * CudaScalingAborted when `signal` aborts (the driver is killed; the promise settles once it has
 * exited, so no driver outlives a cancel).
 */
export function runCudaScaling(
  o: CudaScalingOptions,
  onRow: (row: CudaScalingRow) => void = () => {},
  driver: string = nativeDriverPath(),
  signal?: AbortSignal,
): Promise<CudaScalingResult> {
  if (signal?.aborted) return Promise.reject(new CudaScalingAborted());
  if (!fs.existsSync(driver))
    return Promise.reject(new Error(`the CUDA sweep needs the native driver, not found at ${driver} (npm run build:native)`));
  const args = cudaScalingArgs(o);
  return new Promise((resolve, reject) => {
    const child = spawn(driver, args, {
      env: { ...process.env, CUDA_VISIBLE_DEVICES: String(o.device) },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(signal !== undefined ? { signal, killSignal: 'SIGKILL' as const } : {}),
    });
    const rows: CudaScalingRow[] = [];
    let pending = '';
    let stderr = '';
    let unavailable: string | undefined;
    // Set by spawn's own abort handling (it kills the child, then emits an AbortError).
    let aborted = false;
    const take = (line: string): void => {
      if (!line.trim()) return;
      let row: CudaScalingRow;
      try {
        row = JSON.parse(line) as CudaScalingRow;
      } catch {
        stderr += `${line}\n`;  // not a JSON row: keep it for the error message
        return;
      }
      if (row['variant'] === undefined && typeof row['skipped'] === 'string') unavailable = row['skipped'];
      else {
        rows.push(row);
        if (!aborted) onRow(row);  // no progress after a cancel
      }
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(take);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (e) => {
      if (isAbortError(e)) aborted = true;  // 'close' follows once the killed driver has exited
      else reject(e);
    });
    child.on('close', (code, killedBy) => {
      if (aborted) return reject(new CudaScalingAborted());
      take(pending);
      if (unavailable) return reject(new Error(unavailable));
      if (code !== 0)
        return reject(new Error(`lshlab-native ${args.join(' ')} exited ${code ?? killedBy}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
      const gpu = rows.find((r) => typeof r['gpu'] === 'string')?.['gpu'];
      resolve({
        gpu: typeof gpu === 'string' ? gpu : 'unknown GPU',
        rows,
        reproduce: `CUDA_VISIBLE_DEVICES=${o.device} lshlab-native ${args.join(' ')}`,
      });
    });
  });
}

/** The cuda:N of a resolved device as N (undefined for the CPU). */
export function cudaIndexOf(placed: Pick<ResolvedDevice, 'device'>): number | undefined {
  const m = /^cuda:(\d+)$/.exec(placed.device);
  return m ? Number(m[1]) : undefined;
}

const fmtMs = (v: number): string => (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e7 ? v.toExponential(2) : String(Number(v.toPrecision(Math.max(3, Math.ceil(Math.log10(Math.abs(v) + 1)))))));

/** A configuration's parameters as "k=v k=v" ('' for none). */
export function cudaParamsText(v: unknown): string {
  return v && typeof v === 'object' ? Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}=${String(x)}`).join(' ') : '';
}

/** One progress line per driver row ("yoso tau=8 n=1024: 3.2 ms fwd+bwd", or why it was skipped). */
export function cudaScalingProgress(row: CudaScalingRow): string {
  const params = cudaParamsText(row['params']);
  return `${String(row['variant'])}${params ? ` ${params}` : ''} n=${String(row['n'])}: ` +
    (typeof row['fwdbwd_ms'] === 'number' ? `${fmtMs(row['fwdbwd_ms'])} ms fwd+bwd` : String(row['skipped'] ?? row['error'] ?? ''));
}

/** A kept sweep's result (and `--json`'s output): what the Benchmarks page reads (lib/bench.ts). */
export type CudaScalingRecorded = {
  mode: 'scaling';
  /** "cuda:N: <GPU name>". */
  device: string;
  gpu: string;
  rows: CudaScalingRow[];
  reproduce: string;
  lshlab: string;
};

/**
 * The benchmark row to keep for a finished sweep (kind attention/scaling-cuda), as
 * `bench attention --scaling --device cuda --record` keeps it; `result` is also what `--json`
 * prints. `source` marks who ran it (the API says 'lshlab api'; the CLI adds nothing).
 */
export function cudaScalingBenchmark(
  placed: ResolvedDevice,
  variants: readonly string[] | undefined,
  r: CudaScalingResult,
  source?: string,
): { kind: 'attention/scaling-cuda'; config: Record<string, unknown>; result: CudaScalingRecorded } {
  const result: CudaScalingRecorded = { mode: 'scaling', device: `${placed.device}: ${placed.name}`, gpu: r.gpu, rows: r.rows, reproduce: r.reproduce, lshlab: packageVersion() };
  const config: Record<string, unknown> = { variants: variants ?? 'all', device: placed.device, deviceInfo: { ...placed }, reproduce: r.reproduce };
  if (source !== undefined) config['source'] = source;
  return { kind: 'attention/scaling-cuda', config, result };
}
