/**
 * `lshlab bench metrics`: what recording metrics costs. In a temporary lab (never the user's):
 *   1. append throughput: points per second through the store's batched append (--points in
 *      batches of --batch-points),
 *   2. interference with training: the same synthetic BERT-tiny masked-LM run (child process, as
 *      `lshlab train`) twice, alone and while the host writes an extra --rate points per second
 *      into the store; the mean engine time per step of both, and the slowdown.
 * Runs alternate (alone, loaded, alone, loaded, ...) for --repeats pairs so that drift in the
 * machine's speed does not favour either side. Prints what it measured, the machine and the command.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defineCommand } from '../command.js';
import { num, table } from '../format.js';
import { openStore, storePath } from '../../store/index.js';
import type { LabStore, MetricPoint } from '../../store/types.js';
import { RunHost } from '../../training/host.js';
import { defaultSpec } from '../../training/spec.js';
import { SYNTHETIC_RANDOM } from '../../training/task-source.js';

function appendThroughput(store: LabStore, points: number, batch: number): number {
  const run = store.runs.create({ name: 'append', task: 'mlm', datasetName: 'none', modelConfig: {}, attention: 'exact', attentionParams: {}, trainConfig: {}, seed: '0' });
  const keys = ['a/x', 'a/y', 'a/z', 'a/w'];
  const t0 = performance.now();
  for (let done = 0; done < points; ) {
    const n = Math.min(batch, points - done);
    const pts: MetricPoint[] = [];
    for (let i = 0; i < n; i++) {
      const k = done + i;
      pts.push({ key: keys[k % 4]!, step: Math.floor(k / 4) + 1, value: Math.sin(k), time: 0 });
    }
    store.metrics.append(run.id, pts);
    done += n;
  }
  return points / ((performance.now() - t0) / 1e3);
}

async function timedRun(host: RunHost, store: LabStore, steps: number, rate: number): Promise<{ computeS: number; stepS: number; written: number }> {
  let loadTimer: NodeJS.Timeout | undefined;
  let written = 0;
  const spec = defaultSpec({ task: 'mlm', dataset: SYNTHETIC_RANDOM, steps, batchSize: 32, warmupSteps: 2, evalBatches: 1 });
  const h = host.start(spec, {
    onReady: () => {
      if (rate <= 0) return;
      const sink = store.runs.create({ name: 'load', task: 'mlm', datasetName: 'none', modelConfig: {}, attention: 'exact', attentionParams: {}, trainConfig: {}, seed: '0' });
      const tick = 20; // ms
      const per = Math.round((rate * tick) / 1000);
      let step = 0;
      loadTimer = setInterval(() => {
        const pts: MetricPoint[] = [];
        // The host's real pattern: every key at every step (16 keys here).
        for (let i = 0; i < per; i++) pts.push({ key: `load/k${i % 16}`, step: step + Math.floor(i / 16) + 1, value: i });
        step += Math.ceil(per / 16);
        store.metrics.append(sink.id, pts);
        written += per;
      }, tick);
    },
  });
  const row = await h.done;
  if (loadTimer) clearInterval(loadTimer);
  if (row.status !== 'finished') throw new Error(`benchmark run ${row.status}: ${row.error ?? ''}`);
  const skip = Math.min(3, steps - 1); // the first steps warm caches and the allocator
  const mean = (key: string): number => {
    const v = store.metrics.history(row.id, key).slice(skip).map((p) => p.value);
    return v.reduce((a, b) => a + b, 0) / v.length;
  };
  return { computeS: mean('train/compute_s'), stepS: mean('train/step_s'), written };
}

export const benchMetricsCommand = defineCommand({
  path: ['bench', 'metrics'],
  summary: 'metric-store append throughput and its effect on the training step',
  usage: 'bench metrics [--points N] [--batch-points N] [--rate R] [--steps N] [--repeats N] [--json]',
  flags: {
    points: { type: 'int', min: 1000, max: 1e8, default: 1000000, metavar: 'N', description: 'points for the append test' },
    'batch-points': { type: 'int', min: 1, max: 1e6, default: 1000, metavar: 'N', description: 'points per transaction' },
    rate: { type: 'int', min: 0, max: 1e7, default: 50000, metavar: 'R', description: 'extra points/s written during the loaded runs' },
    steps: { type: 'int', min: 5, max: 1e6, default: 40, metavar: 'N', description: 'training steps per run' },
    repeats: { type: 'int', min: 1, max: 100, default: 2, metavar: 'N', description: 'pairs of (alone, loaded) runs' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  async run(flags, ctx) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-bench-metrics-'));
    const store = openStore(storePath(dir));
    try {
      ctx.note(`bench metrics: appending ${flags.points} points in batches of ${flags['batch-points']} ...`);
      const pps = appendThroughput(store, flags.points, flags['batch-points']);
      const host = new RunHost(store, dir, ctx.globals.threads !== undefined ? { threads: ctx.globals.threads } : {});
      const alone: number[] = [];
      const loaded: number[] = [];
      let written = 0;
      let loadedSeconds = 0;
      for (let r = 0; r < flags.repeats; r++) {
        ctx.note(`bench metrics: pair ${r + 1}/${flags.repeats}: ${flags.steps} steps alone, then with ${flags.rate} points/s ...`);
        alone.push((await timedRun(host, store, flags.steps, 0)).computeS);
        const t0 = performance.now();
        const l = await timedRun(host, store, flags.steps, flags.rate);
        loadedSeconds += (performance.now() - t0) / 1e3;
        loaded.push(l.computeS);
        written += l.written;
      }
      const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
      const slowdown = mean(loaded) / mean(alone) - 1;
      const reproduce = `lshlab bench metrics --points ${flags.points} --batch-points ${flags['batch-points']} --rate ${flags.rate} --steps ${flags.steps} --repeats ${flags.repeats}`;
      const result = {
        append_points_per_s: pps,
        batch_points: flags['batch-points'],
        load_rate_points_per_s: flags.rate,
        load_points_written: written,
        load_points_per_s_achieved: written / loadedSeconds,
        step_compute_s_alone: alone,
        step_compute_s_loaded: loaded,
        slowdown,
        model: 'bert-tiny mlm, seq 128, batch 32, vocab 1000 (synthetic:random)',
        device: `cpu: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} logical cores`,
        reproduce,
      };
      if (flags.json) ctx.out(JSON.stringify(result, null, 2));
      else {
        ctx.out(`append throughput   ${num(pps, 4)} points/s (batches of ${flags['batch-points']})`);
        ctx.out(
          table(
            ['training step (engine time)', 'mean ms', 'runs'],
            [
              ['alone', num(mean(alone) * 1e3, 4), alone.map((v) => num(v * 1e3, 3)).join(' ')],
              [`while writing ${flags.rate} points/s`, num(mean(loaded) * 1e3, 4), loaded.map((v) => num(v * 1e3, 3)).join(' ')],
            ],
            ['l', 'r', 'l'],
          ),
        );
        ctx.out(`slowdown            ${num(100 * slowdown, 3)}%  (load achieved ${num(result.load_points_per_s_achieved, 4)} points/s)`);
        ctx.out(`device              ${result.device}`);
        ctx.out(`reproduce           ${reproduce}`);
      }
      return 0;
    } finally {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
});
