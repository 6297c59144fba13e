/**
 * `lshlab tokenizer train --dataset N --vocab-size V [--name NAME] [--min-frequency F]`: trains a
 * WordPiece tokenizer on a dataset's training split and saves it in the lab
 * (<data-dir>/tokenizers/<name>/); lab/tokenizers.ts does the work.
 */
import { trainTokenizer } from '../../lab/tokenizers.js';
import { withLab } from '../dataset-progress.js';
import { Progress } from '../format.js';
import { defineWithArgs } from '../command.js';

export const tokenizerTrainCommand = defineWithArgs({
  path: ['tokenizer', 'train'],
  summary: 'train a WordPiece tokenizer on a dataset',
  usage: 'tokenizer train --dataset N --vocab-size V [--name NAME] [--min-frequency F] [--json]',
  details: 'Trains on the training split only (classification: text and pair; qa: questions and each context once).',
  flags: {
    dataset: { type: 'string', required: true, metavar: 'N', description: 'dataset to train on' },
    'vocab-size': { type: 'int', required: true, min: 6, max: 2_000_000, metavar: 'V', description: 'vocabulary size, special tokens included' },
    name: { type: 'string', metavar: 'NAME', description: 'tokenizer name (default <dataset>-wp<V>)' },
    'min-frequency': { type: 'int', default: 2, min: 1, max: 1_000_000, metavar: 'F', description: 'a pair must occur F times to merge' },
    json: { type: 'boolean', description: 'print the tokenizer\'s metadata as JSON' },
  },
  positionals: { min: 0, max: 0, what: '' },
  async run(flags, _args, ctx) {
    const progress = new Progress(ctx.stderr, `tokenizer train on ${flags.dataset}, vocab ${flags['vocab-size']}`);
    let info;
    try {
      info = await withLab(ctx, (store, dataDir) =>
        trainTokenizer(store, dataDir, { dataset: flags.dataset, vocabSize: flags['vocab-size'], name: flags.name, minFrequency: flags['min-frequency'] }),
      );
      progress.done();
    } catch (err) {
      progress.done('failed');
      throw err;
    }
    if (flags.json) ctx.out(JSON.stringify(info, null, 2));
    else ctx.out(`tokenizer ${info.name}: vocabulary ${info.vocabSize}, trained on ${info.trainedOn}\n  directory  ${info.dir}`);
    return 0;
  },
});
