/**
 * `lshlab datasets rm NAME`: removes a dataset's database row and its directory (either alone
 * when the other is already gone). Runs that used it keep its name.
 */
import { removeDataset } from '../../lab/datasets.js';
import { withLab } from '../dataset-progress.js';
import { defineWithArgs } from '../command.js';

export const datasetsRmCommand = defineWithArgs({
  path: ['datasets', 'rm'],
  summary: 'remove a dataset (database row and directory)',
  usage: 'datasets rm NAME',
  flags: {},
  positionals: { min: 1, max: 1, what: 'a dataset NAME' },
  async run(_flags, args, ctx) {
    const r = await withLab(ctx, (store, dataDir) => removeDataset(store, dataDir, args[0]!));
    const what = [r.row ? 'database row' : '', r.dir ? `directory ${r.dir}` : ''].filter((s) => s !== '');
    ctx.out(`removed ${args[0]}: ${what.join(' and ')}`);
    return 0;
  },
});
