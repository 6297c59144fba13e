/**
 * `lshlab datasets list [--json]`: the lab's datasets, one row each (built-in and synthetic ones
 * marked). Reads the store only.
 */
import { listDatasets } from '../../lab/datasets.js';
import { table } from '../format.js';
import { datasetNotes, splitsText, withLab } from '../dataset-progress.js';
import { defineWithArgs } from '../command.js';

export const datasetsListCommand = defineWithArgs({
  path: ['datasets', 'list'],
  summary: 'list the lab\'s datasets',
  usage: 'datasets list [--json]',
  flags: { json: { type: 'boolean', description: 'print a JSON array of dataset rows' } },
  positionals: { min: 0, max: 0, what: '' },
  async run(flags, _args, ctx) {
    const rows = await withLab(ctx, (store) => listDatasets(store));
    if (flags.json) {
      ctx.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      ctx.out("no datasets (add some with 'lshlab datasets add-builtin' or 'lshlab datasets import PATH --kind K')");
      return 0;
    }
    const int = (n: number): string => n.toLocaleString('en-US');
    ctx.out(table(
      ['name', 'kind', 'records', 'tokens', 'splits', 'tokenizer', 'notes', 'source'],
      rows.map((r) => [r.name, r.kind, int(r.numRecords), int(r.numTokens), splitsText(r.splits), r.tokenizer, datasetNotes(r), r.source]),
      ['l', 'l', 'r', 'r', 'l', 'l', 'l', 'l'],
    ));
    return 0;
  },
});
