/**
 * benchmarks.ts: engine.info (`lshlab info`), defaults (the New-run form's starting spec and the
 * ranges of every setting), benchmarks.list, benchmarks.run (`lshlab bench attention` in its
 * modes: one variant, paper Table 1, sweep, scaling, collisions; recorded in the lab like
 * `--record`) and benchmarks.cancel, and the other cancel operations (jobs.cancel, uploads.cancel).
 *
 * The measuring is the engine's, in a process of its own (lab/bench-process.ts): the engine
 * cannot interrupt a measurement, so a cancel kills that process and the run ends as
 * 'cancelled', recording nothing.
 *
 * The scaling sweep with device 'cuda[:N]' is the CUDA kernels' sweep, run by the native driver
 * (lab/bench-attention-cuda.ts): already a process of its own, so it runs without a bench child,
 * a cancel kills the driver, and the result is kept as `bench attention --scaling --device cuda
 * --record` keeps it (kind attention/scaling-cuda, the same shared builder).
 */
import * as crypto from 'node:crypto';
import { packageVersion, type BenchAttentionOptions } from '../engine/index.js';
import { BenchmarkError, runBenchmarkProcess } from '../lab/bench-process.js';
import {
  cudaIndexOf, cudaScalingBenchmark, cudaScalingProgress, isAbortError, runCudaScaling, type CudaScalingRunner,
} from '../lab/bench-attention-cuda.js';
import { recordBenchmark } from '../lab/benchmarks.js';
import { TASK_KIND } from '../lab/task-data.js';
import { DeviceError, resolveDevice, type ResolvedDevice } from '../training/device.js';
import { defaultSpec } from '../training/spec.js';
import { ATTENTION_VARIANTS, paramsOfVariant } from './attention-params.js';
import { ApiError } from './contract.js';
import { TASKS } from './run-spec-schema.js';
import { MODEL_RANGES, TRAIN_RANGES } from './training-params.js';
import type { ApiContext } from './context.js';
import type { BenchmarkRunResult, OpPayload } from './contract.js';
import type { Handlers } from './handler.js';

export const benchmarkHandlers: Handlers<'engine.info' | 'defaults' | 'benchmarks.list' | 'benchmarks.run' | 'benchmarks.cancel' | 'jobs.cancel' | 'uploads.cancel'> = {
  'engine.info': (ctx) => {
    const e = ctx.engine().info();
    return {
      lshlab: packageVersion(), node: process.versions.node, napi: process.versions.napi ?? null, engine: e.engineVersion,
      platform: `${process.platform}-${process.arch}`, cpu: e.cpu, threads: e.threads, gemmKernel: e.gemmKernel,
      cuda: {
        compiled: e.cuda.compiled, available: e.cuda.available ?? (e.cuda.compiled && e.cuda.devices.length > 0), reason: e.cuda.reason ?? '',
        devices: e.cuda.devices, message: e.cuda.message,
      },
      attentionVariants: e.attentionVariants,
      dataDir: ctx.dataDir,
    };
  },

  'defaults': () => ({
    spec: defaultSpec({ task: 'mlm', dataset: 'builtin-text', steps: 200 }),
    tasks: TASKS.map((task) => ({ task, datasetKind: TASK_KIND[task] })),
    variants: ATTENTION_VARIANTS.map((name) => ({ name, params: paramsOfVariant(name) })),
    modelRanges: MODEL_RANGES,
    trainRanges: TRAIN_RANGES,
  }),

  'benchmarks.list': (ctx, p) => {
    const store = ctx.store();
    const rows = store.benchmarks.list(p.kind !== undefined ? { kind: p.kind } : {});
    return rows
      .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id)
      .slice(0, p.limit)
      .map((b) => ({ ...b, environment: b.environmentId !== null ? (store.environments.get(b.environmentId) ?? null) : null }));
  },

  'benchmarks.run': async (ctx, p) => {
    if (p.device !== undefined && p.device !== 'cpu') return runCudaSweep(ctx, p);
    const { mode, record, jobId, params, variant, device: _cpu, ...rest } = p;
    const opts: Omit<BenchAttentionOptions, 'onProgress'> = { mode, params: params ?? {}, variant: variant ?? 'exact' };
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (opts as Record<string, unknown>)[k] = v;
    // Every benchmark is a job, with the caller's id or one of ours: close() stops it either way.
    const id = jobId ?? `benchmark-${crypto.randomUUID()}`;
    const job = ctx.beginJob(id);
    ctx.benchmarkJobs.add(id);
    const t0 = Date.now();
    let outcome;
    try {
      outcome = await runBenchmarkProcess(opts, {
        signal: job.signal,
        ...(ctx.opts.benchLauncher !== undefined ? { launcher: ctx.opts.benchLauncher } : {}),
        ...(jobId !== undefined && (mode === 'sweep' || mode === 'scaling')
          ? { onProgress: (line: string) => ctx.events.emit({ type: 'benchmark.progress', jobId, line }) }
          : {}),
      });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      // The engine names the variant or parameter at fault: the caller's input.
      if (e instanceof BenchmarkError && /unknown attention variant|unknown parameter|must be |takes no parameters/.test(msg)) throw new ApiError('bad-request', msg);
      throw new ApiError('internal', `benchmark failed: ${msg}`);
    } finally {
      ctx.benchmarkJobs.delete(id);
      job.end();
    }
    const seconds = (Date.now() - t0) / 1000;
    if (outcome.status === 'cancelled') return { status: 'cancelled', result: null, benchmark: null, seconds };
    const info = ctx.engine().info();
    const benchmark = record ? recordBenchmark(ctx.store(), { kind: `attention/${mode}`, config: { ...opts, source: 'lshlab api' }, result: outcome.result }, info) : null;
    return { status: 'done', result: outcome.result, benchmark, seconds };
  },

  'benchmarks.cancel': (ctx, p) => {
    const job = ctx.benchmarkJobs.has(p.jobId) ? ctx.jobs.get(p.jobId) : undefined;
    if (!job) return { cancelled: false };
    job.abort();
    return { cancelled: true };
  },

  'jobs.cancel': (ctx, p) => {
    const job = ctx.jobs.get(p.jobId);
    if (!job) return { cancelled: false };
    job.abort();
    return { cancelled: true };
  },

  'uploads.cancel': (ctx, p) => ({ cancelled: ctx.uploads.cancel(p.uploadId) }),
};

/**
 * benchmarks.run on a CUDA device (the contract lets only mode 'scaling' here): the device is
 * resolved against the engine's CUDA status (unavailable: a bad request with the loader's
 * reason), the driver's rows stream to the job's progress, a cancel kills the driver.
 */
async function runCudaSweep(ctx: ApiContext, p: OpPayload<'benchmarks.run'>): Promise<BenchmarkRunResult> {
  const info = ctx.engine().info();
  let placed: ResolvedDevice;
  try {
    placed = resolveDevice(p.device, { cpuModel: info.cpu.model, cuda: ctx.opts.cudaBench?.status?.() ?? info.cuda });
  } catch (e) {
    if (e instanceof DeviceError) throw new ApiError('bad-request', `benchmarks.run: device: ${e.message}`);
    throw e;
  }
  const index = cudaIndexOf(placed);
  if (index === undefined) throw new ApiError('internal', `device ${p.device ?? ''} resolved to ${placed.device} (${placed.why})`);
  const run: CudaScalingRunner = ctx.opts.cudaBench?.run ?? ((o, onRow, signal) => runCudaScaling(o, onRow, undefined, signal));
  const { jobId } = p;
  const id = jobId ?? `benchmark-${crypto.randomUUID()}`;
  const job = ctx.beginJob(id);
  ctx.benchmarkJobs.add(id);
  const t0 = Date.now();
  let r;
  try {
    r = await run(
      { device: index, variants: p.variants, minN: p.minSeq, maxN: p.maxSeq, batch: p.batch, heads: p.heads, headDim: p.headDim, budgetS: p.budgetS },
      (row) => {
        if (jobId !== undefined) ctx.events.emit({ type: 'benchmark.progress', jobId, line: cudaScalingProgress(row) });
      },
      job.signal,
    );
  } catch (e) {
    if (isAbortError(e)) return { status: 'cancelled', result: null, benchmark: null, seconds: (Date.now() - t0) / 1000 };
    const msg = e instanceof Error ? e.message : String(e);
    // The driver's own "CUDA unavailable: ..." (the engine saw a device, the driver did not).
    if (/^CUDA unavailable/.test(msg)) throw new ApiError('bad-request', `benchmarks.run: device: ${msg}`);
    throw new ApiError('internal', `the CUDA scaling sweep failed: ${msg}`);
  } finally {
    ctx.benchmarkJobs.delete(id);
    job.end();
  }
  const seconds = (Date.now() - t0) / 1000;
  const bench = cudaScalingBenchmark(placed, p.variants, r, 'lshlab api');
  const benchmark = p.record ? recordBenchmark(ctx.store(), bench, info) : null;
  return { status: 'done', result: bench.result, benchmark, seconds };
}
