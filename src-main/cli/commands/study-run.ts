/**
 * `lshlab study run FILE|NAME [--parallel N] [--format F]` and `lshlab study paper [--quick]
 * [--pretrain D --classification D --qa D]`: run a study's grid (resumable: running it again
 * continues where it stopped), then print its report. `study run` also builds a study from flags
 * (--name, --variant, --stage, --seeds, --model). `study paper` is the BERT-LSH paper's experiment
 * (lab/study-paper.ts) on the built-in datasets or the user's imports.
 * Exit codes: 0 every run done, 1 some failed / blocked / interrupted, 2 a bad definition.
 */
import { UsageError } from '../args.js';
import { defineCommand, defineWithArgs, type Context } from '../command.js';
import { openLabAsHost } from '../run-training.js';
import { checked, definitionFromFlags, prepareBuiltins, registerStudy, runStudyWithProgress, studyArgument } from '../study-lab.js';
import { checkStudyShape, type StudyDefinition } from '../../lab/study-def.js';
import { paperStudy } from '../../lab/study-paper.js';
import { buildStudyReport } from '../../lab/study-report.js';
import { renderStudyReport, STUDY_REPORT_FORMATS, type StudyReportFormat } from '../../lab/study-report-render.js';
import { openStore, storePath } from '../../store/index.js';

const RUN_FLAGS = {
  parallel: { type: 'int', min: 1, max: 64, default: 1, metavar: 'N', description: 'runs trained at once (they share the cores, or --threads)' },
  format: { type: 'string', choices: STUDY_REPORT_FORMATS, default: 'text', metavar: 'F', description: 'report format: text, markdown, latex, csv or json' },
} as const;

/** Validates, registers and runs `def`, then prints the report. */
async function runAndReport(ctx: Context, def: StudyDefinition, where: string, parallel: number, format: StudyReportFormat): Promise<number> {
  const lab = openLabAsHost(ctx, 'lshlab study run');
  try {
    await prepareBuiltins(ctx, lab, def);
    const study = registerStudy(lab, def, where);
    const result = await runStudyWithProgress(ctx, lab, study, def, parallel);
    const t = result.tally;
    ctx.out(renderStudyReport(buildStudyReport(lab.store, study.id, def), format).trimEnd());
    for (const u of result.unstartable) ctx.note(`study ${def.name}: cell ${u.cell} could not start: ${u.reason}`);
    const left = t.total - t.done;
    if (result.stopped) ctx.note(`study ${def.name}: stopped with ${t.done}/${t.total} runs done; run 'lshlab study run ${def.name}' to continue`);
    else if (left > 0) ctx.note(`study ${def.name}: ${t.done}/${t.total} runs done, ${t.failed} failed, ${t.blocked} blocked, ${t.todo + t.running} not run`);
    else ctx.note(`study ${def.name}: all ${t.total} runs done; database ${lab.store.path}`);
    return left === 0 ? 0 : 1;
  } finally {
    lab.close();
  }
}

export const studyRunCommand = defineWithArgs({
  path: ['study', 'run'],
  summary: 'run a study (a grid of variants x seeds x stages), resumable, then print its report',
  usage: 'study run FILE|NAME [--parallel N] [--format F] | study run --name N --variant V... --stage S... [--seeds N|LIST] [--model K=V,...]',
  details: [
    'FILE: a JSON study definition (docs/cli.md shows one); NAME: a study already in the lab. The whole definition is',
    'checked before anything runs. Running it again continues: finished runs are kept, interrupted runs are redone, a',
    'run that crashed or failed on its own is retried once. Several `study run` of one study may run at once.',
    'From flags: --variant [KEY=]ATTENTION[:PARAM=VALUE,...], --stage TASK:DATASET[:FIELD=VALUE,...] (FIELD: steps,',
    'epochs, batchSize, lr, warmupSteps, evalBatches, ..., name, init), --seeds 3 or --seeds 1,2,3.',
  ].join('\n'),
  flags: {
    ...RUN_FLAGS,
    name: { type: 'string', metavar: 'NAME', description: 'build the study from flags: its name' },
    variant: { type: 'string', repeatable: true, metavar: 'V', description: 'an attention variant: [KEY=]ATTENTION[:PARAM=VALUE,...]' },
    stage: { type: 'string', repeatable: true, metavar: 'S', description: 'a stage: TASK:DATASET[:FIELD=VALUE,...]' },
    seeds: { type: 'string', metavar: 'N|LIST', description: 'seeds: a count (3 = 1,2,3) or a list (1,2,3)' },
    model: { type: 'string', metavar: 'K=V,...', description: 'model fields, e.g. hiddenSize=64,numHiddenLayers=2' },
  },
  positionals: { min: 0, max: 1, what: 'a study file or name' },
  async run(flags, args, ctx) {
    const byFlags = flags.name !== undefined || flags.variant.length > 0 || flags.stage.length > 0;
    let def: StudyDefinition;
    let where: string;
    if (args[0] !== undefined && !byFlags) {
      // Reading a stored study needs the store; the definition is checked before the lab is opened as host.
      const store = openStore(storePath(ctx.ensureDataDir().dir));
      try {
        ({ def } = studyArgument(store, args[0]));
      } finally {
        store.close();
      }
      where = args[0];
    } else {
      if (args[0] !== undefined) throw new UsageError('give a study file or name, or flags (--name, --variant, --stage), not both', 'study run');
      const raw = definitionFromFlags(flags);
      def = checked('(flags)', () => checkStudyShape(raw));
      where = def.name;
    }
    return runAndReport(ctx, def, where, flags.parallel, flags.format as StudyReportFormat);
  },
});

export const studyPaperCommand = defineCommand({
  path: ['study', 'paper'],
  summary: "the BERT-LSH paper's experiment as a study: exact, bert-lsh, bert-lsh fill=masked, yoso, reformer; 3 seeds",
  usage: 'study paper [--quick] [--pretrain DATASET --classification DATASET --qa DATASET] [--name NAME] [--parallel N] [--format F]',
  details: [
    'Pretrains BERT-tiny with masked LM, then fine-tunes each pretrained model on classification and on QA (Tables 2-4',
    'of the paper), for every variant and seeds 1, 2, 3, and prints the tables with mean ± std and 95% intervals.',
    'Datasets: builtin-text, builtin-spam, builtin-qa (added if missing) unless given (e.g. BookCorpus, SST-2 and SQuAD',
    'imports: they must share the pretraining dataset\'s tokenizer). --quick: 250 / 120 / 150 steps of batch 16 (under',
    '10 minutes on an idle 2-core machine); default: 3000 steps of batch 32, then 2 epochs of batch 32 each. Resumable like study run.',
  ].join('\n'),
  flags: {
    ...RUN_FLAGS,
    quick: { type: 'boolean', description: 'the quick budget (under 10 minutes on an idle 2-core machine)' },
    pretrain: { type: 'string', metavar: 'DATASET', description: 'masked-LM pretraining dataset (default builtin-text)' },
    classification: { type: 'string', metavar: 'DATASET', description: 'classification dataset (default builtin-spam)' },
    qa: { type: 'string', metavar: 'DATASET', description: 'QA dataset (default builtin-qa)' },
    name: { type: 'string', metavar: 'NAME', description: 'the study name (default paper-quick or paper, plus the datasets when given)' },
  },
  async run(flags, ctx) {
    const raw = paperStudy({ quick: flags.quick, pretrain: flags.pretrain, classification: flags.classification, qa: flags.qa, name: flags.name });
    const def = checked('paper', () => checkStudyShape(raw));
    return runAndReport(ctx, def, def.name, flags.parallel, flags.format as StudyReportFormat);
  },
});
