/**
 * `lshlab datasets show NAME [--json]`: one dataset: its row, statistics, files and any problem
 * (missing directory, manifest disagreeing with the database).
 */
import { showDataset } from '../../lab/datasets.js';
import { datasetSummary, withLab } from '../dataset-progress.js';
import { defineWithArgs } from '../command.js';

export const datasetsShowCommand = defineWithArgs({
  path: ['datasets', 'show'],
  summary: 'one dataset: row, statistics, files',
  usage: 'datasets show NAME [--json]',
  flags: { json: { type: 'boolean', description: 'print one JSON object {row, manifest, files, problems}' } },
  positionals: { min: 1, max: 1, what: 'a dataset NAME' },
  async run(flags, args, ctx) {
    const d = await withLab(ctx, (store) => showDataset(store, args[0]!));
    if (flags.json) {
      ctx.out(JSON.stringify(d, null, 2));
      return d.problems.length ? 1 : 0;
    }
    ctx.out(datasetSummary(d.row));
    ctx.out(`  created    ${new Date(d.row.createdAt).toISOString()}`);
    const s = d.row.stats;
    const shown = ['meanTokensPerRecord', 'maxTokensPerRecord', 'tokensPerSplit', 'labelCounts', 'validationFraction', 'seed', 'splitGiven', 'bytes', 'synthetic', 'generator', 'notes'];
    for (const k of shown) {
      const v = s[k];
      if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
      const text = typeof v === 'number' ? String(Math.round(v * 100) / 100) : typeof v === 'object' ? JSON.stringify(v) : String(v);
      ctx.out(`  ${k.padEnd(20)} ${text}`);
    }
    ctx.out('  files');
    for (const f of d.files) ctx.out(`    ${f.name.padEnd(16)} ${f.bytes.toLocaleString('en-US')} bytes`);
    for (const p of d.problems) ctx.out(`  problem: ${p}`);
    return d.problems.length ? 1 : 0;
  },
});
