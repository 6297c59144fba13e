/**
 * `lshlab tokenizer list [--json]`: the lab's tokenizers (<data-dir>/tokenizers/).
 */
import { listTokenizers } from '../../lab/tokenizers.js';
import { table } from '../format.js';
import { defineWithArgs } from '../command.js';

export const tokenizerListCommand = defineWithArgs({
  path: ['tokenizer', 'list'],
  summary: 'list the lab\'s tokenizers',
  usage: 'tokenizer list [--json]',
  flags: { json: { type: 'boolean', description: 'print a JSON array' } },
  positionals: { min: 0, max: 0, what: '' },
  async run(flags, _args, ctx) {
    const list = listTokenizers(ctx.ensureDataDir().dir);
    if (flags.json) {
      ctx.out(JSON.stringify(list, null, 2));
      return 0;
    }
    if (list.length === 0) {
      ctx.out("no tokenizers (run 'lshlab datasets add-builtin' for the default builtin-wp8k)");
      return 0;
    }
    ctx.out(table(['name', 'vocab', 'trained on', 'created'], list.map((t) => [t.name, String(t.vocabSize), t.trainedOn, new Date(t.createdAt).toISOString().slice(0, 16).replace('T', ' ')]), ['l', 'r', 'l', 'l']));
    return 0;
  },
});
