/**
 * benchmarks.ts: engine.info (`lshlab info`), defaults (the New-run form's starting spec and the
 * ranges of every setting), benchmarks.list and benchmarks.run (`lshlab bench attention` in its
 * modes: one variant, paper Table 1, sweep, scaling, collisions; recorded in the lab like
 * `--record`), and the two cancel operations (jobs.cancel, uploads.cancel).
 *
 * The measuring is the engine's (an async worker: the event loop stays free); a benchmark cannot
 * be stopped once started.
 */
import { packageVersion, type BenchAttentionOptions } from '../engine/index.js';
import { recordBenchmark } from '../lab/benchmarks.js';
import { TASK_KIND } from '../lab/task-data.js';
import { defaultSpec } from '../training/spec.js';
import { ATTENTION_VARIANTS, paramsOfVariant } from './attention-params.js';
import { ApiError } from './contract.js';
import { TASKS } from './run-spec-schema.js';
import { MODEL_RANGES, TRAIN_RANGES } from './training-params.js';
import type { Handlers } from './handler.js';

export const benchmarkHandlers: Handlers<'engine.info' | 'defaults' | 'benchmarks.list' | 'benchmarks.run' | 'jobs.cancel' | 'uploads.cancel'> = {
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
    const opts: BenchAttentionOptions = { mode, params: params ?? {}, variant: variant ?? 'exact' };
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (opts as Record<string, unknown>)[k] = v;
    if (jobId !== undefined && (mode === 'sweep' || mode === 'scaling'))
      opts.onProgress = (line) => ctx.events.emit({ type: 'benchmark.progress', jobId, line });
    const engine = ctx.engine();
    const info = engine.info();
    const t0 = Date.now();
    let result: Record<string, unknown>;
    try {
      result = await engine.benchAttention(opts);
    } catch (e) {
      // The engine names the variant or parameter at fault: the caller's input.
      const msg = e instanceof Error ? e.message : String(e);
      if (/unknown attention variant|unknown parameter|must be |takes no parameters/.test(msg)) throw new ApiError('bad-request', msg);
      throw e;
    }
    const { onProgress: _p, ...config } = opts;
    const benchmark = record ? recordBenchmark(ctx.store(), { kind: `attention/${mode}`, config: { ...config, source: 'lshlab api' }, result }, info) : null;
    return { result, benchmark, seconds: (Date.now() - t0) / 1000 };
  },

  'jobs.cancel': (ctx, p) => {
    const job = ctx.jobs.get(p.jobId);
    if (!job) return { cancelled: false };
    job.abort();
    return { cancelled: true };
  },

  'uploads.cancel': (ctx, p) => ({ cancelled: ctx.uploads.cancel(p.uploadId) }),
};
