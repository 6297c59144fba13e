/**
 * `lshlab tokenizer import PATH --name N`: registers an existing BERT vocabulary in the lab
 * (<data-dir>/tokenizers/<name>/): PATH is a folder with tokenizer.json or vocab.txt (a Hugging
 * Face BERT folder such as Google's BERT-tiny) or one of those files. lab/tokenizers.ts does the work.
 */
import { importTokenizer } from '../../lab/tokenizers.js';
import { defineWithArgs } from '../command.js';

export const tokenizerImportCommand = defineWithArgs({
  path: ['tokenizer', 'import'],
  summary: 'import a BERT vocabulary (vocab.txt / tokenizer.json, or a Hugging Face folder)',
  usage: 'tokenizer import PATH --name NAME [--json]',
  details: [
    'Use it to tokenize datasets for downloaded weights: `lshlab tokenizer import ./bert-tiny --name bert-tiny`,',
    '`lshlab datasets import sst2.tsv --kind classification --tokenizer bert-tiny`, then',
    '`lshlab train --task classification --dataset sst2 --init-from ./bert-tiny`.',
  ].join('\n'),
  flags: {
    name: { type: 'string', required: true, metavar: 'NAME', description: 'tokenizer name in the lab' },
    json: { type: 'boolean', description: "print the tokenizer's metadata as JSON" },
  },
  positionals: { min: 1, max: 1, what: 'a folder with vocab.txt or tokenizer.json, or the file' },
  async run(flags, args, ctx) {
    const info = await importTokenizer(ctx.ensureDataDir().dir, args[0] as string, flags.name);
    if (flags.json) ctx.out(JSON.stringify(info, null, 2));
    else ctx.out(`tokenizer ${info.name}: vocabulary ${info.vocabSize}, ${info.trainedOn}\n  directory  ${info.dir}`);
    return 0;
  },
});
