/**
 * `lshlab bench store [--runs N] [--points M] [--big P]`: seeds a fresh database in a temporary
 * directory (default 10,000 runs and 10,000,000 metric points, one run with a 1,000,000-point
 * series) through the store's own append path, then times runs.list(), a 2,000-bucket series of
 * the long run, full history reads and append throughput, and prints the machine and the figures.
 * The work is src-main/store/seed.ts (also `node scripts/seed-store.mjs`); this is its command.
 * `--concurrent N` measures instead metric-append throughput of N writer processes on one lab
 * against one writer alone (store/concurrent-bench.ts), as N training hosts would load it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defineCommand, type Context } from '../command.js';
import { main as seedMain } from '../../store/seed.js';
import { openStore, storePath } from '../../store/index.js';
import { measureConcurrentAppends, type ConcurrentResult } from '../../store/concurrent-bench.js';
import { num } from '../format.js';

export const benchStoreCommand = defineCommand({
  path: ['bench', 'store'],
  summary: 'seed 10,000 runs / 10 M metric points; time run lists, bucketed curves and appends',
  usage: 'bench store [--runs N] [--points M] [--big P] | --concurrent N [--seconds S] [--batch-steps K] [--json]',
  flags: {
    concurrent: { type: 'int', min: 1, max: 64, metavar: 'N', description: 'measure appends by N writer processes at once against 1' },
    seconds: { type: 'int', min: 1, max: 600, default: 5, metavar: 'S', description: '--concurrent: seconds each writer appends' },
    'batch-steps': { type: 'int', min: 1, max: 4096, default: 64, metavar: 'K', description: '--concurrent: steps per append (16 keys each)' },
    json: { type: 'boolean', description: '--concurrent: print one JSON object' },
    runs: { type: 'int', min: 1, max: 1e7, default: 10000, metavar: 'N', description: 'runs to seed' },
    points: { type: 'int', min: 1000, max: 1e9, default: 10000000, metavar: 'M', description: 'metric points in all' },
    big: { type: 'int', min: 1000, max: 1e9, default: 1000000, metavar: 'P', description: 'points of the one long series' },
  },
  async run(flags, ctx) {
    if (flags.concurrent !== undefined) return concurrent(ctx, flags.concurrent, flags.seconds, flags['batch-steps'], !!flags.json);
    const args = ['--runs', String(flags.runs), '--points', String(flags.points), '--big', String(flags.big)];
    seedMain(args, `lshlab bench store ${args.join(' ')}`);
    return 0;
  },
});

async function concurrent(ctx: Context, writers: number, seconds: number, steps: number, json: boolean): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-bench-concurrent-'));
  try {
    openStore(storePath(dir)).close(); // created and migrated once, before any writer
    const cmd = `lshlab bench store --concurrent ${writers} --seconds ${seconds} --batch-steps ${steps}`;
    ctx.note(`bench store: ${cmd}; ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    ctx.note(`appends of ${steps} steps x 16 keys = ${steps * 16} points per transaction, ${seconds} s per writer`);
    const results: ConcurrentResult[] = [];
    for (const n of writers === 1 ? [1] : [1, writers]) {
      ctx.note(`${n} writer process(es) ...`);
      results.push(await measureConcurrentAppends(storePath(dir), n, seconds, steps));
    }
    const check = openStore(storePath(dir));
    const integrity = check.integrityCheck();
    check.close();
    if (json) {
      ctx.stdout.write(JSON.stringify({ command: cmd, cores: os.availableParallelism(), load: os.loadavg(), results, integrity }) + '\n');
      return 0;
    }
    for (const r of results) {
      const lat = r.perWriter.map((w) => `p50 ${num(w.p50Ms, 3)} / p99 ${num(w.p99Ms, 3)} / max ${num(w.maxMs, 3)} ms`).join('; ');
      ctx.out(`${r.writers} writer(s): ${num(r.pointsPerS / 1e6, 3)} M points/s in all (append latency per writer: ${lat})`);
    }
    if (results.length === 2) ctx.out(`${writers} writers against 1: ${num(results[1]!.pointsPerS / results[0]!.pointsPerS, 3)}x the throughput`);
    ctx.out(`integrity_check: ${integrity}`);
    return 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
