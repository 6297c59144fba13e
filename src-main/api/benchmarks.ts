/**
 * benchmarks.ts: engine.info (`lshlab info`), defaults (the New-run form's starting spec and the
 * ranges of every setting), benchmarks.list, benchmarks.run (`lshlab bench attention` in its
 * modes: one variant, paper Table 1, sweep, scaling, collisions; recorded in the lab like
 * `--record`) and benchmarks.cancel, and the other cancel operations (jobs.cancel, uploads.cancel).
 *
 * The measuring is the engine's, in a process of its own (lab/bench-process.ts): the engine
 * cannot interrupt a measurement, so a cancel kills that process and the run ends as
 * 'cancelled', recording nothing.
 */
import * as crypto from 'node:crypto';
import { packageVersion, type BenchAttentionOptions } from '../engine/index.js';
import { BenchmarkError, runBenchmarkProcess } from '../lab/bench-process.js';
import { recordBenchmark } from '../lab/benchmarks.js';
import { TASK_KIND } from '../lab/task-data.js';
import { defaultSpec } from '../training/spec.js';
import { ATTENTION_VARIANTS, paramsOfVariant } from './attention-params.js';
import { ApiError } from './contract.js';
import { TASKS } from './run-spec-schema.js';
import { MODEL_RANGES, TRAIN_RANGES } from './training-params.js';
import type { Handlers } from './handler.js';

export const benchmarkHandlers: Handlers<'engine.info' | 'defaults' | 'benchmarks.list' | 'benchmarks.run' | 'benchmarks.cancel' | 'jobs.cancel' | 'uploads.cancel'> = {
  'engine.info': (ctx) => {
    const e = ctx.engine().info();
    return {
      lshlab: packageVersion(), node: process.versions.node, napi: process.versions.napi ?? null, engine: e.engineVersion,
      platform: `${process.platform}-${process.arch}`, cpu: e.cpu, threads: e.threads, gemmKernel: e.gemmKernel,
      cuda: { compiled: e.cuda.compiled, devices: e.cuda.devices, message: e.cuda.message }, attentionVariants: e.attentionVariants,
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
    const { mode, record, jobId, params, variant, ...rest } = p;
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
