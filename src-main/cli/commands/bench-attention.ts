/**
 * `lshlab bench attention`: the attention benchmark (engine/attention/bench.h through the addon's
 * benchAttention). Modes: --paper-table1 (BERT-LSH paper Table 1), --sweep (bands x table x
 * hashes, Figure 1), --scaling (every variant over n, time and memory), --collisions (collision
 * probability against angle vs theory), or one run: --variant V --seq N [...]. --json prints the
 * engine's object (snake_case) plus device/threads/reproduce; --csv FILE writes the mode's rows.
 * --scaling --device cuda[:N] times the CUDA kernels instead (bench-attention-cuda.ts).
 * Not here: the measuring itself (C++), or plots.
 */
import * as fs from 'node:fs';
import { defineCommand, withLab } from '../command.js';
import { recordBenchmark } from '../../lab/benchmarks.js';
import { UsageError } from '../args.js';
import { num, table } from '../format.js';
import { ATTENTION_PARAM_FLAG_SPECS, PARAM_FLAGS } from '../attention-flags.js';
import { packageVersion, type BenchAttentionOptions } from '../../engine/index.js';
import { DEVICE_FLAG, resolveDeviceFlag } from '../run-training.js';
import { benchAttentionScalingCuda } from './bench-attention-cuda.js';

const MODES = ['paper-table1', 'sweep', 'scaling', 'collisions'] as const;

const int = (description: string, min = 1, max = 1 << 20, metavar = 'N') =>
  ({ type: 'int', min, max, metavar, description }) as const;

type Row = Record<string, unknown>;
const obj = (v: unknown): Row => (v && typeof v === 'object' ? (v as Row) : {});
const n = (v: unknown): number => (typeof v === 'number' ? v : NaN);
const gib = (b: unknown): string => (typeof b === 'number' ? `${num(b / 2 ** 20)} MiB` : '-');

function csvCell(v: unknown): string {
  if (v === null || v === undefined || Array.isArray(v)) return '';
  const s = typeof v === 'object' ? Object.entries(v as Row).map(([k, x]) => `${k}=${String(x)}`).join(';') : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows of a mode's result as CSV: the union of scalar columns, first-seen order. */
export function toCsv(rows: Row[]): string {
  const cols: string[] = [];
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (!Array.isArray(v) && k !== 'detail' && !cols.includes(k)) cols.push(k);
  return [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
}

function rowsOf(mode: string, r: Row): Row[] {
  if (mode === 'paper-table1') return ['exact', 'bert_lsh'].map((k) => ({ variant: k, ...obj(r[k]) }));
  if (mode === 'collisions')
    return ['bert_lsh', 'yoso'].flatMap((f) => ((obj(r[f])['rows'] as Row[] | undefined) ?? []).map((x) => ({ family: f, ...x })));
  if (mode === 'sweep' || mode === 'scaling') return (r['rows'] as Row[]) ?? [];
  return [r];
}

export const benchAttentionCommand = defineCommand({
  path: ['bench', 'attention'],
  summary: 'time and count attention variants (paper Table 1, sweeps, scaling, collisions)',
  usage:
    'bench attention [--paper-table1 | --sweep | --scaling [--max-seq N] [--variants a,b] | --collisions | ' +
    '--variant V --seq N [--backward] [--iters N] [--param name=value ...]] [--device auto|cpu|cuda[:N]] [--json] [--csv FILE]',
  details: [
    'Inputs are random float32 normals (Philox, --seed); every call uses a new step, so LSH hashes are redrawn as in training.',
    'Variant parameters: --param name=value (repeatable) or the shorthands --bands --table-size --num-hashes --fill',
    '--symmetric --combine --reseed (bert-lsh), --tau --num-hash --conv-window --yoso-backward (yoso), --num-hashes',
    '--num-buckets --chunk-length (reformer). In --scaling each variant gets the parameters it accepts.',
    '--scaling keeps to about --budget seconds by adapting iterations and skipping cells whose estimated time or',
    'memory is too large (reported as "skipped: needs X GiB"). See docs/cli.md for every JSON key.',
  ].join('\n'),
  flags: {
    'paper-table1': { type: 'boolean', description: 'BERT-LSH paper Table 1: exact vs bert-lsh at seq 10' },
    sweep: { type: 'boolean', description: 'bert-lsh bands x table size x hashes grid (paper Figure 1)' },
    scaling: { type: 'boolean', description: 'every variant at n = 128..--max-seq, forward and forward+backward' },
    collisions: { type: 'boolean', description: 'collision probability vs angle for bert-lsh and yoso, with theory' },
    variant: { type: 'string', default: 'exact', metavar: 'V', description: 'variant of a single run' },
    seq: int('sequence length (single run default 128, sweep 10)'),
    batch: int('batch size', 1, 4096, 'B'),
    heads: int('attention heads', 1, 256, 'H'),
    'head-dim': int('head dimension', 1, 4096, 'D'),
    backward: { type: 'boolean', description: 'time forward+backward (single run)' },
    iters: int('timed calls (single run, default 10)', 1, 1e8),
    warmup: int('untimed calls first (single run, default 2)', 0, 1e8),
    'dot-iters': int('calls dot products are averaged over (paper-table1/sweep default 100)', 1, 1e8),
    'time-iters': int('paper-table1: calls timed (default 1000)', 1, 1e8),
    'no-quality': { type: 'boolean', description: 'skip the error against exact (single run)' },
    seed: int('seed of the inputs', 0, Number.MAX_SAFE_INTEGER, 'S'),
    'max-seq': int('scaling: largest n (default 16384)', 1, 1 << 20),
    'min-seq': int('scaling: smallest n (default 128)', 1, 1 << 20),
    variants: { type: 'string', metavar: 'a,b', description: 'scaling: variants to run (default: all registered)' },
    budget: int('scaling: time budget in seconds (default 270)', 1, 86400, 'S'),
    'max-memory-gb': { type: 'number', min: 0, max: 4096, metavar: 'G', description: 'scaling: memory limit per cell (default: half of available, at most 8)' },
    angles: int('collisions: angle steps over [0, pi] (default 16)', 1, 1000),
    trials: int('collisions: vector pairs per angle (default 2000)', 1, 1e7),
    ...ATTENTION_PARAM_FLAG_SPECS,
    device: DEVICE_FLAG,
    json: { type: 'boolean', description: 'print one JSON object' },
    csv: { type: 'string', metavar: 'FILE', description: "write the mode's rows as CSV" },
    record: { type: 'boolean', description: "keep the result in the lab database ('lshlab benchmarks list')" },
  },
  async run(flags, ctx) {
    const cmd = 'bench attention';
    const modes = MODES.filter((m) => flags[m]);
    if (modes.length > 1) throw new UsageError(`--${modes.join(', --')} exclude each other`, cmd);
    const mode: string = modes.length > 0 ? String(modes[0]) : 'single';
    const params: Record<string, string> = {};
    const paramFlag: Record<string, string> = {};
    for (const kv of flags.param) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`invalid value for --param: '${kv}' (expected name=value)`, cmd);
      params[kv.slice(0, eq)] = kv.slice(eq + 1);
      paramFlag[kv.slice(0, eq)] = `--param ${kv.slice(0, eq)}`;
    }
    for (const [flag, name] of Object.entries(PARAM_FLAGS)) {
      const v = (flags as Record<string, unknown>)[flag];
      if (v !== undefined) {
        params[name] = String(v);
        paramFlag[name] = `--${flag}`;
      }
    }
    const opts: BenchAttentionOptions = { mode: mode as BenchAttentionOptions['mode'], params, variant: flags.variant };
    const copy: Array<[keyof BenchAttentionOptions, unknown]> = [
      ['seq', flags.seq], ['batch', flags.batch], ['heads', flags.heads], ['headDim', flags['head-dim']],
      ['iters', flags.iters], ['warmup', flags.warmup], ['dotIters', flags['dot-iters']],
      ['timeIters', flags['time-iters']], ['seed', flags.seed], ['maxSeq', flags['max-seq']],
      ['minSeq', flags['min-seq']], ['budgetS', flags.budget], ['maxMemoryGb', flags['max-memory-gb']],
      ['angles', flags.angles], ['trials', flags.trials],
    ];
    for (const [k, v] of copy) if (v !== undefined) (opts as Record<string, unknown>)[k] = v;
    if (flags.backward) opts.backward = true;
    if (flags['no-quality']) opts.quality = false;
    if (flags.variants !== undefined) opts.variants = flags.variants.split(',').filter(Boolean);
    if ((opts.minSeq ?? 128) > (opts.maxSeq ?? 16384))
      throw new UsageError('--min-seq must not exceed --max-seq', cmd);
    if (mode === 'sweep' || mode === 'scaling') opts.onProgress = (line) => ctx.note(line);

    // --scaling --device cuda[:N]: the CUDA kernels' sweep, run by the native driver.
    if (mode === 'scaling' && /^cuda(:\d+)?$/.test(flags.device ?? ''))
      return benchAttentionScalingCuda(ctx, flags, Object.keys(params).length > 0, toCsv);
    const placed = resolveDeviceFlag(ctx, flags.device, cmd, [], {
      cudaUnsupported: 'only --scaling runs on CUDA (--scaling --device cuda); the other modes time the CPU variants',
    });
    const engine = ctx.engine();
    const info = engine.info();
    if (mode !== 'single') ctx.note(`bench attention --${mode}: running on ${info.threads} thread(s) ...`);
    const t0 = Date.now();
    let r: Row;
    try {
      r = await engine.benchAttention(opts);
    } catch (e) {
      // A bad variant name or parameter value is the user's: exit 2, naming the flag that set it.
      const msg = e instanceof Error ? e.message : String(e);
      if (/unknown attention variant/.test(msg)) throw new UsageError(`invalid value for --variant${opts.variants ? 's' : ''}: ${msg}`, cmd);
      const bad = /unknown parameter '([^']+)'|(\w+) must be |takes no parameters \(got '([^']+)'\)/.exec(msg);
      if (bad) {
        const name = bad[1] ?? bad[2] ?? bad[3] ?? '';
        throw new UsageError(`invalid value for ${paramFlag[name] ?? `--param ${name}`}: ${msg}`, cmd);
      }
      throw e;
    }
    if (mode !== 'single') ctx.note(`bench attention --${mode}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const reproduce = ['lshlab bench attention', mode === 'single' ? `--variant ${flags.variant}` : `--${mode}`];
    for (const [flag, v] of Object.entries(flags)) {
      if (v === undefined || v === false || flag === 'json' || flag === 'csv' || flag === 'variant' || (MODES as readonly string[]).includes(flag)) continue;
      if (flag === 'param') for (const kv of v as string[]) reproduce.push(`--param ${kv}`);
      else if (v === true) reproduce.push(`--${flag}`);
      else if (flag !== 'threads' && flag !== 'data-dir') reproduce.push(`--${flag} ${String(v)}`);
    }
    reproduce.push(`--threads ${info.threads}`);
    const device = `${placed.device}: ${placed.name}`;
    if (flags.csv !== undefined) fs.writeFileSync(flags.csv, toCsv(rowsOf(mode, r)));
    if (flags.record) {
      const row = await withLab(ctx, (store) =>
        recordBenchmark(store, { kind: `attention/${mode}`, config: { ...opts, onProgress: undefined, reproduce: reproduce.join(' '), device: flags.device ?? 'auto', deviceInfo: { ...placed } }, result: r }, info),
      );
      ctx.note(`bench attention: recorded as benchmark ${row.id} (lshlab benchmarks list)`);
    }
    if (flags.json) {
      ctx.out(JSON.stringify({ ...r, device, device_why: placed.why, precision: placed.precision, threads: info.threads, lshlab: packageVersion(), reproduce: reproduce.join(' ') }, null, 2));
      return 0;
    }
    printText(mode, r, (s) => ctx.out(s));
    ctx.out(`device   ${device}, ${info.threads} thread(s)`);
    if (flags.csv !== undefined) ctx.out(`csv      ${flags.csv}`);
    ctx.out(`reproduce ${reproduce.join(' ')}`);
    return 0;
  },
});

function printText(mode: string, r: Row, out: (s: string) => void): void {
  if (mode === 'paper-table1') {
    const e = obj(r['exact']), l = obj(r['bert_lsh']), p = obj(r['paper']);
    const pe = obj(p['exact']), pl = obj(p['bert_lsh']);
    const row = (label: string, k: string, pk?: string): string[] =>
      [label, num(n(e[k]), 4), num(n(l[k]), 4), pk ? num(n(pe[pk]), 4) : '', pk ? num(n(pl[pk]), 4) : ''];
    out('BERT-LSH paper Table 1 (seq 10, batch 1, 2 heads, D 64; bands 2, table 64, 1 hash)');
    out(table(['metric', 'exact', 'bert-lsh', 'paper exact', 'paper bert-lsh'], [
      row('KFLOPs (paper way)', 'kflops_paper', 'kflops'),
      row('KFLOPs (all stages)', 'kflops_total'),
      row('dot products (avg)', 'dot_products_mean', 'dot_products'),
      row('time, timed stage (s)', 'time_s_mean', 'time_s'),
      row('time, whole call (s)', 'time_total_s_mean'),
      row('rel. error vs exact', 'rel_error_vs_exact'),
    ], ['l', 'r', 'r', 'r', 'r']));
    out(`KFLOPs paper way: ${String(r['kflops_paper_method'])}`);
  } else if (mode === 'sweep') {
    const rows = (r['rows'] as Row[]).map((x) => [String(x['bands']), String(x['table_size']), String(x['num_hashes']),
      num(n(x['kflops_paper']), 4), num(n(x['kflops_total']), 4), num(n(x['dot_products_mean']), 4), num(n(x['collision_density']))]);
    const ex = obj(r['exact']);
    out(table(['bands', 'table', 'hashes', 'KFLOPs paper', 'KFLOPs total', 'dot products', 'density'], rows, ['r', 'r', 'r', 'r', 'r', 'r', 'r']));
    out(`exact: ${num(n(ex['kflops_paper']), 4)} KFLOPs paper way, ${num(n(ex['kflops_total']), 4)} total, ${num(n(ex['dot_products_mean']), 4)} dot products`);
  } else if (mode === 'scaling') {
    const rows = (r['rows'] as Row[]).map((x) => [String(x['variant']), String(x['seq']), x['backward'] ? 'fwd+bwd' : 'fwd',
      x['status'] === 'ok' ? num(n(x['time_s_mean'])) : '-', x['status'] === 'ok' ? gib(x['peak_memory_bytes']) : '-',
      x['status'] === 'ok' ? String(x['iters']) : '', x['status'] === 'ok' ? '' : String(x['reason'] ?? x['status'])]);
    out(table(['variant', 'n', 'pass', 'time/call (s)', 'peak memory', 'iters', 'note'], rows, ['l', 'r', 'l', 'r', 'r', 'r', 'l']));
    out(`elapsed ${num(n(r['elapsed_s']))} s of a ${num(n(r['budget_s']))} s budget`);
  } else if (mode === 'collisions') {
    const b = obj(r['bert_lsh']), y = obj(r['yoso']);
    const br = (b['rows'] as Row[] | undefined) ?? [], yr = (y['rows'] as Row[] | undefined) ?? [];
    const pm = (x: Row | undefined): string => (x ? `${n(x['empirical']).toFixed(4)} ± ${n(x['stderr']).toFixed(4)}` : '-');
    const rows = (br.length ? br : yr).map((x, i) => [num(n(x['angle_deg'])), pm(br[i]), br[i] ? n(br[i]['theory']).toFixed(4) : '-',
      pm(yr[i]), yr[i] ? n(yr[i]['theory']).toFixed(4) : '-']);
    out(`bert-lsh bands ${String(b['bands'])}, table ${String(b['table_size'])}, hashes ${String(b['num_hashes'])}, ${String(b['combine'])}; ` +
      `yoso tau ${String(y['tau'])}; ${String(r['trials'])} pairs per angle, D ${String(r['head_dim'])}`);
    out(table(['angle (deg)', 'bert-lsh p ± se', 'theory', 'yoso p ± se', 'theory'], rows, ['r', 'r', 'r', 'r', 'r']));
    out(`max |z|: bert-lsh ${num(n(b['max_abs_z']))}, yoso ${num(n(y['max_abs_z']))}`);
  } else {
    out(`${String(r['variant'])} B=${String(r['batch'])} T=${String(r['seq'])} H=${String(r['heads'])} D=${String(r['head_dim'])}` +
      `${r['backward'] ? ' forward+backward' : ' forward'}, ${String(r['iters'])} calls`);
    const line = (k: string, v: string): void => out(`  ${k.padEnd(22)} ${v}`);
    line('time_s_mean', `${num(n(r['time_s_mean']))} (min ${num(n(r['time_s_min']))})`);
    line('stages (s)', ['hash', 'scores', 'softmax', 'values', 'backward'].map((s) => `${s} ${num(n(r[`time_${s}_s`]))}`).join(', '));
    line('kflops_total', num(n(r['kflops_total']), 4));
    line('dot_products_mean', `${num(n(r['dot_products_mean']), 4)} of ${num(n(r['pairs']), 4)} pairs (density ${num(n(r['collision_density']))})`);
    line('peak memory', `${gib(r['peak_memory_bytes'])} (retained ${gib(r['retained_heap_bytes'])})`);
    for (const k of ['rel_error_vs_exact', 'rel_error_vs_yoso_e', 'grad_rel_error_vs_exact'])
      if (typeof r[k] === 'number') line(k, num(n(r[k])));
    if (r['quality_note']) line('note', String(r['quality_note']));
  }
}
