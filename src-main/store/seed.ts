/**
 * seed.ts: fills a run store with many runs and points through the store's own append path, then
 * measures what the UI and the run host depend on: runs.list() over every run, series() of the
 * longest series into 2,000 buckets, and append throughput in 1,000-point batches (16, 8 and 1
 * keys per step).
 *
 *   node dist/src-main/store/seed.js [--runs 10000] [--points 10000000] [--big 1000000]
 *                                    [--db FILE] [--keep]
 *   (scripts/seed-store.mjs runs it the same way)
 *
 * Without --db it seeds a database in a temporary directory and deletes it afterwards. It is a
 * development tool: it never touches a lab's own lab.db unless pointed at it, and refuses an
 * existing file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore } from './index.js';
import type { LabStore, MetricPoint, NewRun } from './types.js';
import { mulberry32 } from '../data/random.js';

interface SeedOptions {
  runs: number;
  points: number;
  big: number;
  db?: string;
  keep: boolean;
}

function parseArgs(argv: string[]): SeedOptions {
  const o: SeedOptions = { runs: 10_000, points: 10_000_000, big: 1_000_000, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--runs') o.runs = num();
    else if (a === '--points') o.points = num();
    else if (a === '--big') o.big = num();
    else if (a === '--db') o.db = argv[++i];
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown argument '${a}' (see the header of src-main/store/seed.ts)`);
  }
  o.big = Math.min(o.big, o.points);
  return o;
}

const rng = mulberry32;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function timeIt(times: number, f: () => unknown): { median: number; min: number; max: number } {
  f(); // warm the page cache and the statement
  const ts: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return { median: median(ts), min: Math.min(...ts), max: Math.max(...ts) };
}

/** A seeded run's row: the name, shape and tags seed-<i> gets (also used by `lshlab bench ui`). */
export const newRun = (i: number, extra: { tags?: string[]; status?: 'finished' | 'running' } = {}): NewRun => ({
  name: `seed-${i}`,
  task: 'mlm',
  datasetName: 'synthetic:seed',
  modelConfig: { hiddenSize: 128, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 512, vocabSize: 30522 },
  attention: i % 3 === 0 ? 'exact' : i % 3 === 1 ? 'bert-lsh' : 'yoso',
  attentionParams: i % 3 === 0 ? {} : { bands: 4, rows: 8 },
  trainConfig: { batchSize: 32, lr: 0.001, steps: 1000, warmupSteps: 100, evalEvery: 200 },
  seed: String(1000 + i),
  tags: extra.tags ?? (i % 10 === 0 ? ['paper'] : i % 7 === 0 ? ['wip', 'sweep'] : []),
  status: extra.status ?? 'finished',
});

/** Appends `steps` steps of `keys` keys to a run in batches of `batch` points; returns points. */
export function fill(store: LabStore, runId: number, keys: string[], steps: number, batch: number, r: () => number, t0: number): number {
  let buf: MetricPoint[] = [];
  let n = 0;
  for (let s = 1; s <= steps; s++) {
    for (const key of keys) {
      buf.push({ key, step: s, value: key === 'train/loss' ? 10 / Math.sqrt(s) + r() * 0.1 : r(), time: t0 + s * 100 });
      if (buf.length >= batch) {
        store.metrics.append(runId, buf);
        n += buf.length;
        buf = [];
      }
    }
  }
  if (buf.length) store.metrics.append(runId, buf);
  return n + buf.length;
}

export function main(argv: string[], command?: string): void {
  const o = parseArgs(argv);
  const tmp = o.db ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-seed-'));
  const file = o.db ? path.resolve(o.db) : path.join(tmp as string, 'lab.db');
  if (o.db && fs.existsSync(file)) throw new Error(`${file} exists; seed a new file`);
  const cpu = os.cpus();
  const log = (s: string): void => void process.stdout.write(`${s}\n`);
  log(`command: ${command ?? `node ${path.relative(process.cwd(), process.argv[1] ?? 'seed.js')} ${argv.join(' ')}`}`.trimEnd());
  log(`machine: ${cpu[0]?.model ?? '?'}, ${cpu.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log(`node ${process.version}; database ${file}`);

  let store: LabStore;
  try {
    store = openStore(file);
  } catch (e) {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const r = rng(42);
  const T0 = Date.UTC(2025, 0, 1);
  try {
    const seedStart = performance.now();
    // The long series: one key, one point per step, in 1,000-point batches like a host flush.
    const big = store.runs.create(newRun(0, { tags: ['big'] }));
    let written = fill(store, big.id, ['train/loss'], o.big, 1000, r, T0);
    log(`seeded run ${big.id} with ${written.toLocaleString('en-US')} points of train/loss`);

    const others = o.runs - 1;
    const rest = o.points - written;
    const keys = ['train/loss', 'train/lr', 'train/grad_norm'];
    let lastReport = performance.now();
    for (let i = 1; i <= others; i++) {
      const run = store.runs.create(newRun(i));
      // Spread the remaining points evenly; the first runs take the remainder.
      const share = Math.floor(rest / others) + (i <= rest % others ? 1 : 0);
      const steps = Math.floor(share / keys.length);
      written += fill(store, run.id, keys, steps, 2000, r, T0);
      const extra = share - steps * keys.length;
      if (extra > 0) {
        store.metrics.append(run.id, Array.from({ length: extra }, (_, k) => ({ key: 'train/epoch', step: k + 1, value: k, time: T0 })));
        written += extra;
      }
      if (performance.now() - lastReport > 5000 || i === others) {
        lastReport = performance.now();
        const s = (lastReport - seedStart) / 1000;
        log(`  ${i + 1} runs, ${written.toLocaleString('en-US')} points, ${s.toFixed(1)} s (${Math.round(written / s).toLocaleString('en-US')} points/s)`);
      }
    }
    const seedS = (performance.now() - seedStart) / 1000;
    log(`seeded ${store.runs.count()} runs and ${written.toLocaleString('en-US')} points in ${seedS.toFixed(1)} s; database ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB (+ WAL)`);

    const list = timeIt(10, () => store.runs.list());
    log(`runs.list() of ${store.runs.count()} runs: median ${list.median.toFixed(1)} ms (min ${list.min.toFixed(1)}, max ${list.max.toFixed(1)}) of 10`);
    const page = timeIt(10, () => store.runs.list({ limit: 50 }));
    log(`runs.list({limit: 50}): median ${page.median.toFixed(2)} ms`);
    const tagged = timeIt(10, () => store.runs.list({ tag: 'paper' }));
    log(`runs.list({tag: 'paper'}): median ${tagged.median.toFixed(1)} ms`);
    let buckets = 0;
    const series = timeIt(10, () => (buckets = store.metrics.series(big.id, 'train/loss', 2000).length));
    log(`series(${o.big.toLocaleString('en-US')}-point run, 2000 buckets) -> ${buckets} buckets: median ${series.median.toFixed(1)} ms (min ${series.min.toFixed(1)}, max ${series.max.toFixed(1)}) of 10`);
    const hist = timeIt(3, () => store.metrics.history(big.id, 'train/loss'));
    log(`history(${o.big.toLocaleString('en-US')} points): median ${hist.median.toFixed(0)} ms of 3`);

    // Append throughput into the full database, 1,000-point batches: host-like runs with 16 and 8
    // keys per step, and one key. Wall time (what the target is about) and this process's CPU time
    // (what the host takes from training; less sensitive to a shared machine).
    const hostKeys = ['train/loss', 'train/lr', 'train/grad_norm', 'train/step_s', 'train/compute_s', 'train/tokens_per_s', 'train/samples_per_s', 'train/epoch'];
    const keys16 = [...hostKeys, ...['dot_products', 'collisions', 'bucket_max', 'bucket_mean', 'sparsity', 'recall', 'loss_exact', 'hash_s'].map((k) => `attn/${k}`)];
    const measure = (what: string, keys: string[], steps: number, index: number): void => {
      const run = store.runs.create(newRun(index, { status: 'running' }));
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const n = fill(store, run.id, keys, steps, 1000, r, T0);
      const c = process.cpuUsage(c0);
      const s = (performance.now() - t0) / 1000;
      const cpuUs = (c.user + c.system) / n;
      log(`append: ${n.toLocaleString('en-US')} points in 1000-point batches (${what}) in ${s.toFixed(2)} s = ${Math.round(n / s).toLocaleString('en-US')} points/s (CPU ${cpuUs.toFixed(2)} us/point)`);
    };
    measure('16 keys/step', keys16, 25_000, o.runs);
    measure('8 keys/step', hostKeys, 50_000, o.runs + 1);
    measure('1 key', ['train/loss'], 400_000, o.runs + 2);
    log(`integrity_check: ${store.integrityCheck()}`);
  } finally {
    store.close();
    if (tmp && !o.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else log(`kept ${file}`);
  }
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`seed-store: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
