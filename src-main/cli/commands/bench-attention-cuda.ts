/**
 * `lshlab bench attention --scaling --device cuda[:N]`: the sweep on a CUDA device, run by the
 * native driver (lab/bench-attention-cuda.ts), printed as a table or JSON, optionally recorded.
 * The CPU modes stay in bench-attention.ts; this is only the CUDA branch of --scaling. What it
 * records and its progress lines come from lab/bench-attention-cuda.ts, shared with the API's
 * benchmarks.run (the workbench's Benchmarks page), so both keep the same benchmark row.
 */
import * as fs from 'node:fs';
import type { Context } from '../command.js';
import { withLab } from '../command.js';
import { UsageError } from '../args.js';
import { num, table } from '../format.js';
import { recordBenchmark } from '../../lab/benchmarks.js';
import {
  cudaIndexOf, cudaParamsText, cudaScalingBenchmark, cudaScalingProgress, runCudaScaling, type CudaScalingRow,
} from '../../lab/bench-attention-cuda.js';
import { resolveDeviceFlag } from '../run-training.js';

export interface CudaScalingFlags {
  device?: string;
  variants?: string;
  'min-seq'?: number;
  'max-seq'?: number;
  batch?: number;
  heads?: number;
  'head-dim'?: number;
  budget?: number;
  json?: boolean;
  csv?: string;
  record?: boolean;
}

const ms = (v: unknown): string => (typeof v === 'number' ? num(v) : '-');
const mib = (v: unknown): string => (typeof v === 'number' ? `${num(v / 2 ** 20)} MiB` : '-');

/** The rows as the text table prints them (exported for tests). */
export function cudaScalingTable(rows: CudaScalingRow[]): string {
  return table(
    ['variant', 'params', 'n', 'fwd (ms)', 'fwd+bwd (ms)', 'peak memory', 'rel. err', 'note'],
    rows.map((r) => [String(r['variant'] ?? ''), cudaParamsText(r['params']), String(r['n'] ?? ''), ms(r['fwd_ms']),
      ms(r['fwdbwd_ms']), mib(r['peak_bytes']), typeof r['rel_err'] === 'number' ? r['rel_err'].toExponential(1) : '',
      String(r['skipped'] ?? r['error'] ?? '')]),
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l'],
  );
}

export async function benchAttentionScalingCuda(
  ctx: Context,
  flags: CudaScalingFlags,
  hasParams: boolean,
  toCsv: (rows: Record<string, unknown>[]) => string,
): Promise<number> {
  const cmd = 'bench attention';
  if (hasParams)
    throw new UsageError('with --device cuda, give variant parameters in --variants (e.g. yoso:tau=8:num_hash=32), not --param or its shorthands', cmd);
  const placed = resolveDeviceFlag(ctx, flags.device, cmd);
  const index = cudaIndexOf(placed);
  if (index === undefined) throw new UsageError(`--device ${flags.device ?? ''} did not resolve to a CUDA device (${placed.why})`, cmd);
  const variants = flags.variants?.split(',').filter(Boolean);
  ctx.note(`bench attention --scaling on ${placed.device} (${placed.name}): the lshlab-native sweep ...`);
  const t0 = Date.now();
  const r = await runCudaScaling(
    { device: index, variants, minN: flags['min-seq'], maxN: flags['max-seq'], batch: flags.batch,
      heads: flags.heads, headDim: flags['head-dim'], budgetS: flags.budget },
    (row) => ctx.note(`  ${cudaScalingProgress(row)}`),
  );
  ctx.note(`bench attention --scaling: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (flags.csv !== undefined) fs.writeFileSync(flags.csv, toCsv(r.rows));
  const bench = cudaScalingBenchmark(placed, variants, r);
  const { result } = bench;
  if (flags.record) {
    const row = await withLab(ctx, (store) => recordBenchmark(store, bench, ctx.engine().info()));
    ctx.note(`bench attention: recorded as benchmark ${row.id} (lshlab benchmarks list)`);
  }
  if (flags.json) {
    ctx.out(JSON.stringify(result, null, 2));
    return 0;
  }
  ctx.out(`attention scaling on ${result.device} (forward and forward+backward, CUDA events, median)`);
  ctx.out(cudaScalingTable(r.rows));
  if (flags.csv !== undefined) ctx.out(`csv      ${flags.csv}`);
  ctx.out(`reproduce ${r.reproduce}`);
  return 0;
}
