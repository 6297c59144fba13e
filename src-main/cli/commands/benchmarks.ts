/**
 * `lshlab benchmarks list [--kind K] [--limit N] [--json]`: the efficiency benchmarks kept in the
 * lab database (`bench attention --record`, `bench train --record`, the demo's Table 1), newest
 * first, each with the command that reproduces it and the machine it ran on.
 */
import { defineCommand, withLab } from '../command.js';
import { num, table } from '../format.js';
import { formatTime } from './runs.js';
import type { BenchmarkRow } from '../../store/types.js';

/** The headline figure of a benchmark result, by kind (the whole result is in --json). */
export function headline(b: BenchmarkRow): string {
  const r = b.result;
  const n = (v: unknown): string => (typeof v === 'number' ? num(v) : '-');
  if (b.kind === 'train') return `${n(r['tokensPerS'])} tokens/s`;
  if (b.kind === 'attention/paper-table1') {
    const e = (r['exact'] ?? {}) as Record<string, unknown>;
    const l = (r['bert_lsh'] ?? {}) as Record<string, unknown>;
    const ratio = typeof e['time_total_s_mean'] === 'number' && typeof l['time_total_s_mean'] === 'number' ? l['time_total_s_mean'] / e['time_total_s_mean'] : NaN;
    return `bert-lsh/exact call time ${num(ratio)}x`;
  }
  if (b.kind === 'attention/single') return `${n(r['time_s_mean'])} s per call, ${n(r['kflops_total'])} KFLOPs`;
  const rows = r['rows'];
  return Array.isArray(rows) ? `${rows.length} rows` : '-';
}

export const benchmarksListCommand = defineCommand({
  path: ['benchmarks', 'list'],
  summary: 'efficiency benchmarks kept in the lab database, newest first',
  usage: 'benchmarks list [--kind K] [--limit N] [--json]',
  flags: {
    kind: { type: 'string', metavar: 'K', description: 'only this kind (train, attention/single, attention/paper-table1, ...)' },
    limit: { type: 'int', min: 1, max: 1e6, default: 50, metavar: 'N', description: 'at most N (default 50)' },
    json: { type: 'boolean', description: 'print the rows (with results and environments) as JSON' },
  },
  async run(flags, ctx) {
    return withLab(ctx, (store) => {
      const rows = store.benchmarks
        .list(flags.kind !== undefined ? { kind: flags.kind } : {})
        .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id)
        .slice(0, flags.limit);
      if (flags.json) {
        const env = (id: number | null) => (id === null ? null : (store.environments.get(id) ?? null));
        ctx.out(JSON.stringify(rows.map((b) => ({ ...b, environment: env(b.environmentId) })), null, 2));
        return 0;
      }
      if (rows.length === 0) {
        ctx.out('no benchmarks recorded (run a bench command with --record, or lshlab demo)');
        return 0;
      }
      const machine = (id: number | null): string => {
        const e = id === null ? undefined : store.environments.get(id);
        return e ? `${String(e['cpu'])}, ${String(e['threads'] ?? '?')} thr, ${String(e['gemmKernel'] ?? '?')}` : '-';
      };
      ctx.out(
        table(
          ['id', 'kind', 'created', 'result', 'machine', 'reproduce'],
          rows.map((b) => [String(b.id), b.kind, formatTime(b.createdAt), headline(b), machine(b.environmentId), String(b.config['reproduce'] ?? '-')]),
          ['r', 'l', 'l', 'l', 'l', 'l'],
        ),
      );
      return 0;
    });
  },
});
