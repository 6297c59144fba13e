/**
 * `lshlab datasets import PATH --kind text|classification|qa [--name N] [--format F] [columns]
 *  [--labels a,b] [--validation-fraction F] [--seed S] [--tokenizer NAME|PATH] [--json]`:
 * imports a local file into the lab (lab/datasets.ts does the work). Progress on stderr; Ctrl-C
 * cancels cleanly (nothing is left behind). Bad input exits 1 with the file and line / row /
 * JSON path at fault.
 */
import { IMPORT_FORMATS, type ImportFormat } from '../../data/import/detect.js';
import type { DatasetKind } from '../../data/types.js';
import { importDataset } from '../../lab/datasets.js';
import { DEFAULT_TOKENIZER } from '../../lab/tokenizers.js';
import { datasetSummary, isCancellation, ProgressLine, withInterrupt, withLab } from '../dataset-progress.js';
import { defineWithArgs } from '../command.js';

export const datasetsImportCommand = defineWithArgs({
  path: ['datasets', 'import'],
  summary: 'import a local file (txt, jsonl, csv, tsv, parquet, squad) as a dataset',
  usage: 'datasets import PATH --kind text|classification|qa [--name N] [--format F] [--labels a,b] [--validation-fraction 0.1] [--seed S] [--tokenizer NAME|PATH] [--json]',
  details: [
    'Splits given by the source (a split column, SQuAD train/dev files) are kept; the other records are split',
    'train/validation with a seeded shuffle. Records are tokenized once into the token cache under',
    '<data-dir>/datasets/<name>/. Columns default to the usual names (text/sentence, text_pair/sentence2, label,',
    'question, context, answers, id, split). The default tokenizer builtin-wp8k comes from `lshlab datasets add-builtin`.',
  ].join('\n'),
  flags: {
    kind: { type: 'string', required: true, choices: ['text', 'classification', 'qa'], metavar: 'KIND', description: 'dataset kind' },
    name: { type: 'string', metavar: 'N', description: 'dataset name (default: the file name)' },
    format: { type: 'string', default: 'auto', choices: ['auto', ...IMPORT_FORMATS], metavar: 'F', description: 'input format' },
    'text-column': { type: 'string', metavar: 'COL', description: 'column / field of the text' },
    'text-pair-column': { type: 'string', metavar: 'COL', description: 'column of the second text (sentence pairs)' },
    'label-column': { type: 'string', metavar: 'COL', description: 'column of the label' },
    'question-column': { type: 'string', metavar: 'COL', description: 'qa: column of the question' },
    'context-column': { type: 'string', metavar: 'COL', description: 'qa: column of the context' },
    'answers-column': { type: 'string', metavar: 'COL', description: 'qa: column of the answers ({text[], answer_start[]})' },
    'split-column': { type: 'string', metavar: 'COL', description: 'column naming each record\'s split' },
    labels: { type: 'string', metavar: 'a,b', description: 'declared label set in id order (others are an error)' },
    'text-unit': { type: 'string', default: 'line', choices: ['line', 'paragraph'], metavar: 'U', description: 'txt: one record per line or per blank-line paragraph' },
    'validation-fraction': { type: 'number', default: 0.1, min: 0, max: 0.99, metavar: 'F', description: 'share of unsplit records for validation' },
    seed: { type: 'int', default: 42, min: 0, max: 2 ** 31 - 1, metavar: 'S', description: 'seed of the train/validation split' },
    tokenizer: { type: 'string', default: DEFAULT_TOKENIZER, metavar: 'NAME|PATH', description: 'lab tokenizer, or a vocab.txt / tokenizer.json' },
    json: { type: 'boolean', description: 'print the dataset row as JSON' },
  },
  positionals: { min: 1, max: 1, what: 'the PATH of the file to import' },
  async run(flags, args, ctx) {
    const file = args[0]!;
    const progress = new ProgressLine(ctx.stderr, 'datasets import');
    const columns = {
      text: flags['text-column'], textPair: flags['text-pair-column'], label: flags['label-column'],
      question: flags['question-column'], context: flags['context-column'], answers: flags['answers-column'],
      split: flags['split-column'],
    };
    let row;
    try {
      row = await withLab(ctx, (store, dataDir) =>
        withInterrupt(ctx, (signal) =>
          importDataset(store, dataDir, {
            path: file,
            kind: flags.kind as DatasetKind,
            name: flags.name,
            format: flags.format as ImportFormat | 'auto',
            columns,
            labels: flags.labels?.split(',').map((l) => l.trim()).filter((l) => l !== ''),
            textUnit: flags['text-unit'] as 'line' | 'paragraph',
            validationFraction: flags['validation-fraction'],
            seed: flags.seed,
            tokenizer: flags.tokenizer,
            signal,
            onProgress: (p) => progress.update(p),
            onNote: (n) => progress.note(`lshlab: note: ${n}`),
          }),
        ),
      );
    } catch (err) {
      progress.clear();
      if (isCancellation(err)) {
        ctx.note('lshlab: import cancelled: nothing was written');
        return 130;
      }
      throw err;
    }
    progress.done(`imported ${row.name}`);
    if (flags.json) ctx.out(JSON.stringify(row, null, 2));
    else ctx.out(datasetSummary(row));
    return 0;
  },
});
