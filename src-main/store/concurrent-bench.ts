/**
 * concurrent-bench.ts: metric-append throughput of several processes writing one lab at once, as
 * several training hosts do (`lshlab bench store --concurrent N`). Each writer is a separate
 * process (SQLite's locking is between connections of different processes here, exactly as in
 * use): it opens the store, creates a run, waits for a shared start instant, then appends batches
 * shaped like a host's flush (16 keys x `steps` steps per transaction) as fast as it can for the
 * given seconds, and reports points written and the latency of each append (which includes any
 * wait for another writer's lock). The same is measured with one writer, then with N.
 *
 * It does not train: it measures the store's side only. Run as a module for the parent side
 * (measureConcurrentAppends) and as a script (`node concurrent-bench.js writer ...`) for a writer.
 */
import { spawn } from 'node:child_process';
import { openStore } from './index.js';

export interface WriterResult {
  points: number;
  appends: number;
  seconds: number;
  /** Per-append latency in ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ConcurrentResult {
  writers: number;
  /** Sum over writers of points / second over the common window. */
  pointsPerS: number;
  perWriter: WriterResult[];
}

const KEYS = ['train/loss', 'train/lr', 'train/grad_norm', 'train/tokens_per_s', 'train/step_s', 'train/compute_s', 'train/samples_per_s',
  'train/accuracy', 'train/epoch', 'attn/dot_products', 'attn/density', 'attn/collisions', 'attn/layer0/head0/density',
  'attn/layer0/head1/density', 'attn/layer1/head0/density', 'attn/layer1/head1/density'];

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** The writer process's body: returns its result (printed as JSON by the script entry). */
export function runWriter(file: string, startAt: number, seconds: number, steps: number): WriterResult {
  const store = openStore(file);
  try {
    const run = store.runs.create({ name: `writer-${process.pid}`, task: 'mlm', datasetName: 'bench', modelConfig: {}, attention: 'exact',
      attentionParams: {}, trainConfig: {}, seed: '1', status: 'running' });
    while (Date.now() < startAt) {
      // spin: every writer starts at the same instant
    }
    const lat: number[] = [];
    let step = 0;
    let points = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      const batch = [];
      for (let s = 0; s < steps; s++, step++) for (const key of KEYS) batch.push({ key, step, value: Math.sin(step) });
      const a = performance.now();
      store.metrics.append(run.id, batch);
      lat.push(performance.now() - a);
      points += batch.length;
    }
    const took = (performance.now() - t0) / 1000;
    lat.sort((x, y) => x - y);
    return { points, appends: lat.length, seconds: took, p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99), maxMs: lat[lat.length - 1] ?? NaN };
  } finally {
    store.close();
  }
}

/** Starts `writers` writer processes on `file` and gathers their results. */
export async function measureConcurrentAppends(file: string, writers: number, seconds: number, steps: number): Promise<ConcurrentResult> {
  const startAt = Date.now() + 1500; // time for every process to start and open the store
  const runs = Array.from({ length: writers }, () =>
    new Promise<WriterResult>((resolve, reject) => {
      const child = spawn(process.execPath, [__filename, 'writer', file, String(startAt), String(seconds), String(steps)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => void (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => void (err += d));
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`writer exited with ${code}: ${err.trim()}`));
        try {
          resolve(JSON.parse(out) as WriterResult);
        } catch {
          reject(new Error(`writer printed no result: ${out} ${err}`));
        }
      });
    }),
  );
  const perWriter = await Promise.all(runs);
  return { writers, pointsPerS: perWriter.reduce((s, w) => s + w.points / w.seconds, 0), perWriter };
}

if (require.main === module && process.argv[2] === 'writer') {
  const [file, startAt, seconds, steps] = process.argv.slice(3);
  const r = runWriter(file!, Number(startAt), Number(seconds), Number(steps));
  process.stdout.write(JSON.stringify(r));
}
