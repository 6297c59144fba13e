/**
 * studies.ts: the read-only study operations: studies.list, studies.show and studies.report, the
 * API's side of `lshlab study list`, `study show --json` and `study report` (cli/commands/study.ts).
 * Cell states come from lab/study-state.ts and the report from lab/study-report.ts (the same
 * numbers and bold flags the CLI prints); the report's text exports are study-report-render.ts's.
 * Starting, continuing and removing studies stay on the CLI.
 */
import type { LabStore, StudyRow } from '../store/types.js';
import { checkStudyShape, studyJson, StudyDefinitionError, type StudyDefinition } from '../lab/study-def.js';
import { buildStudyReport } from '../lab/study-report.js';
import { BOLD_RULE, renderStudyCsv, renderStudyLatex, renderStudyMarkdown, renderStudyText } from '../lab/study-report-render.js';
import { cellStatuses, tally, type StudyTally } from '../lab/study-state.js';
import { ApiError, type StudyCounts, type StudyListItem } from './contract.js';
import type { Handlers } from './handler.js';

const counts = (t: StudyTally): StudyCounts => ({ total: t.total, done: t.done, running: t.running, failed: t.failed, blocked: t.blocked, pending: t.todo });

/** A stored study and its definition; not-found naming the studies there are. */
function stored(store: LabStore, name: string): { row: StudyRow; def: StudyDefinition } {
  const row = store.studies.get(name);
  if (!row) {
    const known = store.studies.list().map((s) => s.name);
    throw new ApiError('not-found', `no study '${name}' in the lab${known.length ? ` (there is ${known.join(', ')})` : ' (none yet: lshlab study run FILE)'}`);
  }
  return { row, def: shape(row) };
}

function shape(row: StudyRow): StudyDefinition {
  try {
    return checkStudyShape(row.definition);
  } catch (e) {
    if (e instanceof StudyDefinitionError) throw new ApiError('conflict', `study '${row.name}' has a stored definition this version cannot read: ${e.message}`);
    throw e;
  }
}

function summary(store: LabStore, row: StudyRow, def: StudyDefinition): StudyListItem {
  return {
    name: row.name,
    description: def.description,
    createdAt: row.createdAt,
    stages: def.stages.map((s, i) => ({ stage: i + 1, name: s.name, task: s.task, dataset: s.dataset, init: s.init })),
    variants: def.variants.map((v) => ({ key: v.key, attention: v.attention, params: { ...v.params } })),
    seeds: [...def.seeds],
    counts: counts(tally(cellStatuses(def, store.studies.cells(row.id)))),
  };
}

export const studyHandlers: Handlers<'studies.list' | 'studies.show' | 'studies.report'> = {
  'studies.list': (ctx) => {
    const store = ctx.store();
    const out: StudyListItem[] = [];
    for (const row of store.studies.list()) {
      try {
        out.push(summary(store, row, shape(row)));
      } catch (e) {
        // One unreadable study does not hide the others.
        ctx.log(`lshlab api: studies.list: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return out;
  },

  'studies.show': (ctx, p) => {
    const store = ctx.store();
    const { row, def } = stored(store, p.name);
    const statuses = cellStatuses(def, store.studies.cells(row.id));
    return {
      ...summary(store, row, def),
      definition: studyJson(def),
      cells: statuses.map((s) => ({
        stage: s.cell.stage + 1,
        stageName: def.stages[s.cell.stage]?.name ?? '',
        variant: s.cell.variant,
        seed: s.cell.seed,
        state: s.state,
        runId: s.row?.runId ?? null,
        attempts: s.row?.attempts ?? 0,
        reason: s.reason,
      })),
    };
  },

  'studies.report': (ctx, p) => {
    const store = ctx.store();
    const { row, def } = stored(store, p.name);
    const r = buildStudyReport(store, row.id, def);
    return {
      study: r.study,
      seeds: r.seeds,
      counts: counts(r.tally),
      boldRule: BOLD_RULE,
      tables: r.tables.map((t) => ({
        stage: t.stage + 1,
        name: t.name,
        task: t.task,
        dataset: t.dataset,
        title: t.title,
        variants: t.variants.map((v) => ({ key: v.key, attention: v.attention, params: { ...v.params }, seeds: [...v.seeds], runIds: [...v.runIds] })),
        rows: t.rows.map((row) => {
          const f = (v: number | null): string | null => (v === null ? null : row.format(v));
          return {
            key: row.key,
            label: row.label,
            better: row.better,
            efficiency: row.efficiency,
            cells: row.cells.map((c) => ({
              variant: c.variant,
              n: c.stats.n,
              nonFinite: c.stats.nonFinite,
              mean: c.stats.mean,
              std: c.stats.std,
              ciLow: c.stats.ciLow,
              ciHigh: c.stats.ciHigh,
              values: [...c.stats.values],
              bold: c.bold,
              formatted: { mean: f(c.stats.mean), std: f(c.stats.std), ciLow: f(c.stats.ciLow), ciHigh: f(c.stats.ciHigh) },
            })),
          };
        }),
        footnotes: [...t.footnotes],
      })),
      rendered: { text: renderStudyText(r), markdown: renderStudyMarkdown(r), latex: renderStudyLatex(r), csv: renderStudyCsv(r) },
    };
  },
};
