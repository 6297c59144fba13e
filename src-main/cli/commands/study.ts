/**
 * The `lshlab study` commands that read or remove studies:
 *   study report NAME [--format text|markdown|latex|csv|json] [--out FILE]
 *   study list [--json]
 *   study show NAME [--json]          the definition (JSON, re-runnable) and every cell's run
 *   study rm NAME [--runs] [--force]  the study (its runs stay unless --runs)
 * and STUDY_COMMANDS, which main.ts registers (with study run and study paper: study-run.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineCommand, defineWithArgs, withLab } from '../command.js';
import { table } from '../format.js';
import { storedStudy } from '../study-lab.js';
import { writeFileAtomic } from './runs.js';
import { studyPaperCommand, studyRunCommand } from './study-run.js';
import { studyJson } from '../../lab/study-def.js';
import { buildStudyReport } from '../../lab/study-report.js';
import { renderStudyReport, STUDY_REPORT_FORMATS, type StudyReportFormat } from '../../lab/study-report-render.js';
import { studyDir } from '../../lab/study-runner.js';
import { cellStatuses, tally } from '../../lab/study-state.js';
import { removeRuns, RunRefusedError } from '../../lab/runs.js';

export const studyReportCommand = defineWithArgs({
  path: ['study', 'report'],
  summary: "a study's tables, one per stage: mean ± std and 95% interval over seeds, the better variant in bold",
  usage: 'study report NAME [--format text|markdown|latex|csv|json] [--out FILE]',
  details: [
    'Stages: pretraining (training loss, evaluation loss, accuracy, perplexity, runtime, samples/s, steps/s),',
    'classification (training loss, evaluation loss, accuracy), QA (training loss, evaluation loss, exact match, F1),',
    'each with efficiency rows (dot-product density, LSH collisions per step, time per step: means over the steps).',
    'A cell: mean ± sample std [95% CI, Student\'s t]; one seed: std and interval "–". Bold: the best mean whose interval',
    'overlaps no other variant\'s. Only finished runs count; the others are footnoted.',
  ].join('\n'),
  flags: {
    format: { type: 'string', choices: STUDY_REPORT_FORMATS, default: 'text', metavar: 'F', description: 'text, markdown, latex, csv or json' },
    out: { type: 'string', metavar: 'FILE', description: 'write to FILE (atomically) instead of stdout' },
  },
  positionals: { min: 1, max: 1, what: 'a study name' },
  async run(flags, args, ctx) {
    const text = await withLab(ctx, (store) => {
      const { row, def } = storedStudy(store, args[0] as string);
      return renderStudyReport(buildStudyReport(store, row.id, def), flags.format as StudyReportFormat);
    });
    if (flags.out !== undefined) {
      writeFileAtomic(flags.out, [text]);
      ctx.note(`wrote ${path.resolve(flags.out)}`);
    } else ctx.stdout.write(text);
    return 0;
  },
});

export const studyListCommand = defineCommand({
  path: ['study', 'list'],
  summary: 'the studies in the lab: stages, variants, seeds and how many of their runs are done',
  usage: 'study list [--json]',
  flags: { json: { type: 'boolean', description: 'print JSON' } },
  async run(flags, ctx) {
    const rows = await withLab(ctx, (store) =>
      store.studies.list().map((s) => {
        const { def } = storedStudy(store, s.name);
        return { name: s.name, createdAt: s.createdAt, stages: def.stages.map((x) => `${x.task}:${x.dataset}`), variants: def.variants.map((v) => v.key), seeds: def.seeds, ...tally(cellStatuses(def, store.studies.cells(s.id))) };
      }),
    );
    if (flags.json) ctx.out(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) ctx.out('no studies (lshlab study run FILE, or lshlab study paper --quick)');
    else
      ctx.out(
        table(
          ['name', 'stages', 'variants', 'seeds', 'done', 'failed', 'created'],
          rows.map((r) => [r.name, r.stages.join(' > '), r.variants.join(','), String(r.seeds.length), `${r.done}/${r.total}`, String(r.failed + r.blocked), new Date(r.createdAt).toISOString().slice(0, 16).replace('T', ' ')]),
          ['l', 'l', 'l', 'r', 'r', 'r', 'l'],
        ),
      );
    return 0;
  },
});

export const studyShowCommand = defineWithArgs({
  path: ['study', 'show'],
  summary: "a study's definition (JSON you can save and run) and where each of its runs stands",
  usage: 'study show NAME [--json]',
  flags: { json: { type: 'boolean', description: 'print JSON: {definition, cells}' } },
  positionals: { min: 1, max: 1, what: 'a study name' },
  async run(flags, args, ctx) {
    const out = await withLab(ctx, (store) => {
      const { row, def } = storedStudy(store, args[0] as string);
      const cells = cellStatuses(def, store.studies.cells(row.id)).map((s) => ({
        stage: s.cell.stage + 1, stageName: def.stages[s.cell.stage]?.name, variant: s.cell.variant, seed: s.cell.seed, state: s.state,
        runId: s.row?.runId ?? null, attempts: s.row?.attempts ?? 0, reason: s.reason,
      }));
      return { definition: studyJson(def), cells, tally: tally(cellStatuses(def, store.studies.cells(row.id))) };
    });
    if (flags.json) {
      ctx.out(JSON.stringify(out, null, 2));
      return 0;
    }
    ctx.out(JSON.stringify(out.definition, null, 2));
    ctx.out('');
    ctx.out(
      table(
        ['stage', 'variant', 'seed', 'state', 'run', 'attempts', 'note'],
        out.cells.map((c) => [`${c.stage} ${c.stageName}`, c.variant, c.seed, c.state, c.runId === null ? '-' : String(c.runId), String(c.attempts), c.reason ?? '']),
        ['l', 'l', 'r', 'l', 'r', 'r', 'l'],
      ),
    );
    ctx.out(`${out.tally.done}/${out.tally.total} done, ${out.tally.failed} failed, ${out.tally.blocked} blocked`);
    return 0;
  },
});

export const studyRmCommand = defineWithArgs({
  path: ['study', 'rm'],
  summary: 'remove a study from the lab (its runs stay unless --runs)',
  usage: 'study rm NAME [--runs] [--force]',
  flags: {
    runs: { type: 'boolean', description: "also remove the study's runs (every run tagged study:NAME) and their checkpoints" },
    force: { type: 'boolean', description: 'remove it even while some of its runs are training (with --runs: those runs too)' },
  },
  positionals: { min: 1, max: 1, what: 'a study name' },
  async run(flags, args, ctx) {
    const name = args[0] as string;
    await withLab(ctx, (store, dataDir) => {
      const { row } = storedStudy(store, name);
      // A `study run` of it may be training right now: removing its cells under it would fail that run's bookkeeping.
      const live = store.studies.cells(row.id).filter((c) => c.runStatus === 'running' || c.runStatus === 'queued');
      if (live.length > 0 && !flags.force)
        throw new RunRefusedError(`refusing to remove study ${name}: ${live.length} of its runs are training (runs ${live.map((c) => c.runId).join(', ')}); stop them first, or pass --force`);
      let removed = 0;
      if (flags.runs) {
        const ids = store.runs.list({ tag: `study:${name}` }).map((r) => String(r.id));
        if (ids.length) removed = removeRuns(store, dataDir, ids, { force: flags.force }).length;
      }
      store.studies.remove(name);
      fs.rmSync(studyDir(dataDir, row.id), { recursive: true, force: true });
      ctx.out(`removed study ${name}${flags.runs ? ` and ${removed} run(s)` : ' (its runs stay: lshlab runs list --tag study:' + name + ')'}`);
    });
    return 0;
  },
});

export const STUDY_COMMANDS = [studyRunCommand, studyPaperCommand, studyReportCommand, studyListCommand, studyShowCommand, studyRmCommand];
