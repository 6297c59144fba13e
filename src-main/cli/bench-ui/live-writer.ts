/**
 * live-writer.ts: the synthetic training run of `lshlab bench ui`'s live-page measurement. A child
 * process that behaves, for the store and for `lshlab serve`, like a training host: it takes the
 * run's owner lock (RunClaim) before the run row exists, so no process marks the run crashed,
 * creates it 'running', and appends 16 metric keys per step at `rate` steps/s through the hosts'
 * own MetricWriter (one append every 250 ms). Serve learns of the steps by polling the store, as it
 * does for any run another process hosts. It prints one JSON line {runId} when the run exists and,
 * when its stdin closes (the bench is done, or died), marks the run finished, prints
 * {steps, points} and exits.
 *
 *   node dist/src-main/cli/bench-ui/live-writer.js DATA_DIR RATE
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { openStore, storePath } from '../../store/index.js';
import { newRun } from '../../store/seed.js';
import { RunClaim } from '../../training/run-owner.js';
import { MetricWriter } from '../../training/metric-writer.js';
import type { MetricPoint } from '../../store/types.js';

/** What a BERT run's host writes each step (train/* and attention counters). */
const KEYS = [
  'train/loss', 'train/lr', 'train/grad_norm', 'train/step_s', 'train/compute_s', 'train/tokens_per_s', 'train/samples_per_s', 'train/epoch',
  'attn/dot_products', 'attn/collisions', 'attn/bucket_max', 'attn/bucket_mean', 'attn/density', 'attn/recall', 'attn/loss_exact', 'attn/hash_s',
];

function runWriter(dataDir: string, rate: number): void {
  const uuid = crypto.randomBytes(16).toString('hex');
  const claim = RunClaim.take(dataDir, uuid);
  const store = openStore(storePath(dataDir));
  const run = store.runs.create({
    ...newRun(0, { status: 'running', tags: ['bench-ui'] }),
    name: 'bench-ui-live',
    uuid,
    trainConfig: { batchSize: 32, lr: 0.001, steps: 1_000_000, warmupSteps: 100 },
  });
  store.runs.update(run.id, { startedAt: Date.now(), pid: process.pid, owner: `lshlab bench ui live writer (pid ${process.pid})` });
  const writer = new MetricWriter(store, run.id);
  process.stdout.write(JSON.stringify({ runId: run.id }) + '\n');

  const t0 = performance.now();
  let step = 0;
  // Steps are due by the clock (not one per timer tick), so a late timer catches up instead of slowing down.
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    const pts: MetricPoint[] = [];
    for (; step < due; step++) {
      const s = step + 1;
      const time = Date.now();
      for (const key of KEYS) {
        const value = key === 'train/loss' ? 8 / Math.sqrt(s) + 0.05 * Math.sin(s / 7) : key === 'attn/density' ? 0.3 + 0.05 * Math.cos(s / 50) : key === 'train/lr' ? 1e-3 : (s % 97) + 1;
        pts.push({ key, step: s, value, time });
      }
    }
    if (pts.length) writer.add(pts);
  }, 1000 / rate);

  const finish = (): void => {
    clearInterval(timer);
    writer.flush();
    store.runs.update(run.id, { status: 'finished', endedAt: Date.now(), pid: null });
    store.close();
    claim.release();
    process.stdout.write(JSON.stringify({ steps: step, points: writer.written }) + '\n');
    process.exit(0);
  };
  process.stdin.on('end', finish);
  process.stdin.on('error', finish);
  process.stdin.resume();
}

export interface LiveWriter {
  runId: number;
  /** Stops writing; resolves with what was written. */
  stop(): Promise<{ steps: number; points: number }>;
}

/** Starts the writer process on `dataDir`; resolves once its run exists. */
export function startLiveWriter(dataDir: string, rate: number): Promise<LiveWriter> {
  const child = spawn(process.execPath, [__filename, dataDir, String(rate)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  /** The complete JSON lines printed so far. */
  const lines = (): Record<string, number>[] =>
    out.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, number>);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    let started = false;
    child.stdout!.on('data', (d) => {
      out += d;
      const first = lines()[0];
      if (started || !first) return;
      started = true;
      resolve({
        runId: first['runId']!,
        stop: async () => {
          child.stdin!.end();
          const code = await exited;
          const last = lines()[1];
          if (code !== 0 || !last) throw new Error(`the live writer exited with ${code}: ${err.trim()}`);
          return { steps: last['steps']!, points: last['points']! };
        },
      });
    });
    void exited.then((code) => {
      if (!started) reject(new Error(`the live writer exited with ${code} before its run existed: ${err.trim()}`));
    });
  });
}

if (require.main === module) {
  const [dataDir, rate] = process.argv.slice(2);
  if (!dataDir || !(Number(rate) > 0)) {
    process.stderr.write('usage: live-writer.js DATA_DIR STEPS_PER_S\n');
    process.exit(2);
  }
  runWriter(dataDir, Number(rate));
}
