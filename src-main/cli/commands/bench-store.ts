/**
 * `lshlab bench store [--runs N] [--points M] [--big P]`: seeds a fresh database in a temporary
 * directory (default 10,000 runs and 10,000,000 metric points, one run with a 1,000,000-point
 * series) through the store's own append path, then times runs.list(), a 2,000-bucket series of
 * the long run, full history reads and append throughput, and prints the machine and the figures.
 * The work is src-main/store/seed.ts (also `node scripts/seed-store.mjs`); this is its command.
 */
import { defineCommand } from '../command.js';
import { main as seedMain } from '../../store/seed.js';

export const benchStoreCommand = defineCommand({
  path: ['bench', 'store'],
  summary: 'seed 10,000 runs / 10 M metric points; time run lists, bucketed curves and appends',
  usage: 'bench store [--runs N] [--points M] [--big P]',
  flags: {
    runs: { type: 'int', min: 1, max: 1e7, default: 10000, metavar: 'N', description: 'runs to seed' },
    points: { type: 'int', min: 1000, max: 1e9, default: 10000000, metavar: 'M', description: 'metric points in all' },
    big: { type: 'int', min: 1000, max: 1e9, default: 1000000, metavar: 'P', description: 'points of the one long series' },
  },
  async run(flags) {
    const args = ['--runs', String(flags.runs), '--points', String(flags.points), '--big', String(flags.big)];
    seedMain(args, `lshlab bench store ${args.join(' ')}`);
    return 0;
  },
});
