/**
 * study-report.ts: a study's report: the BERT-LSH paper's tables, one per stage, with one column
 * per attention variant and, in every cell, the mean over the seeds +- the sample standard
 * deviation and the 95% confidence interval of the mean (study-stats.ts).
 *   pretraining (mlm)   training loss, evaluation loss, accuracy, perplexity, runtime, samples/s,
 *                       steps/s (Table 2)
 *   classification      training loss, evaluation loss, accuracy (Table 3)
 *   qa                  training loss, evaluation loss, exact match, F1 (Table 4)
 * and under each, efficiency rows: dot-product density, LSH collisions and time per step, each the
 * mean over the run's steps (not the last step's value, as runs compare shows: a per-run mean is
 * what seeds should be compared on). A cell is bold when its variant has the best mean and its
 * interval overlaps no other variant's. Per-run values come from lab/compare.ts's
 * buildComparison, so a run's numbers here are the ones `runs compare` prints; the table
 * renderers are compare.ts's too. Only done cells count; failed, blocked and missing cells are
 * footnoted with the reason.
 */
import type { Task } from '../engine/types.js';
import type { LabStore, RunRow } from '../store/types.js';
import { buildComparison, formatCell, ROWS, type CompareInput, type CompareRowKey } from './compare.js';
import type { StudyDefinition } from './study-def.js';
import { cellStatuses, tally, type CellStatus, type StudyTally } from './study-state.js';
import { sampleStats, significantBest, type SampleStats } from './study-stats.js';

export type ReportRowKey = CompareRowKey | 'density_mean' | 'collisions_mean' | 'step_ms';

interface ReportRowDef {
  key: ReportRowKey;
  label: string;
  better: 'lower' | 'higher';
  efficiency: boolean;
  format: (v: number) => string;
}

const fromCompare = (key: CompareRowKey, better: 'lower' | 'higher'): ReportRowDef => ({
  key,
  label: ROWS.find((r) => r.key === key)?.label ?? key,
  better,
  efficiency: false,
  format: (v) => formatCell(key, v),
});

/** The paper's rows per task (Tables 2, 3, 4). */
export const STAGE_ROWS: Record<Task, readonly ReportRowDef[]> = {
  mlm: [
    fromCompare('train_loss', 'lower'), fromCompare('eval_loss', 'lower'), fromCompare('accuracy', 'higher'), fromCompare('perplexity', 'lower'),
    fromCompare('runtime_s', 'lower'), fromCompare('samples_per_s', 'higher'), fromCompare('steps_per_s', 'higher'),
  ],
  classification: [fromCompare('train_loss', 'lower'), fromCompare('eval_loss', 'lower'), fromCompare('accuracy', 'higher')],
  qa: [fromCompare('train_loss', 'lower'), fromCompare('eval_loss', 'lower'), fromCompare('exact_match', 'higher'), fromCompare('f1', 'higher')],
};

const sig4 = (v: number): string => (v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : Number(v.toPrecision(4)).toString());
export const EFFICIENCY_ROWS: readonly ReportRowDef[] = [
  { key: 'density_mean', label: 'Dot-product density', better: 'lower', efficiency: true, format: (v) => v.toFixed(4) },
  { key: 'collisions_mean', label: 'LSH collisions / step', better: 'lower', efficiency: true, format: sig4 },
  { key: 'step_ms', label: 'Time per step (ms)', better: 'lower', efficiency: true, format: (v) => v.toFixed(1) },
];

export interface ReportCell {
  variant: string;
  stats: SampleStats;
  bold: boolean;
}

export interface ReportRow {
  key: ReportRowKey;
  label: string;
  better: 'lower' | 'higher';
  efficiency: boolean;
  cells: ReportCell[];
  format: (v: number) => string;
}

export interface ReportVariant {
  key: string;
  attention: string;
  params: Record<string, string | number>;
  /** Seeds whose run is done (the sample), and their run ids. */
  seeds: string[];
  runIds: number[];
}

export interface ReportTable {
  stage: number;
  name: string;
  task: Task;
  dataset: string;
  title: string;
  variants: ReportVariant[];
  rows: ReportRow[];
  footnotes: string[];
}

export interface StudyReport {
  study: string;
  seeds: string[];
  tally: StudyTally;
  tables: ReportTable[];
}

/** The variants whose attention counts LSH bucket collisions (native attention.h). */
const COLLIDING = new Set(['bert-lsh', 'yoso']);

const TASK_TITLE: Record<Task, string> = { mlm: 'pretraining (masked LM)', classification: 'classification fine-tuning', qa: 'question answering fine-tuning' };

function meanOfHistory(store: LabStore, runId: number, key: string, scale = 1): number | null {
  const pts = store.metrics.history(runId, key).filter((p) => Number.isFinite(p.value));
  return pts.length ? (pts.reduce((a, p) => a + p.value, 0) / pts.length) * scale : null;
}

/** Groups "header: message" footnotes of compare.ts by message: "message: run a, run b" (or "every run"). */
function groupFootnotes(notes: readonly string[], headers: readonly string[], total: number): string[] {
  const by = new Map<string, string[]>();
  for (const n of notes) {
    const h = headers.find((x) => n.startsWith(`${x}: `));
    const msg = h ? n.slice(h.length + 2) : n;
    by.set(msg, [...(by.get(msg) ?? []), ...(h ? [h] : [])]);
  }
  return [...by].map(([msg, hs]) => (hs.length === 0 ? msg : `${msg}: ${hs.length === total ? 'every run' : hs.join(', ')}`));
}

function stageTable(store: LabStore, def: StudyDefinition, stage: number, statuses: readonly CellStatus[]): ReportTable {
  const st = def.stages[stage] as StudyDefinition['stages'][number];
  const footnotes: string[] = [];
  const mine = statuses.filter((s) => s.cell.stage === stage);
  const runs: Array<{ variant: string; seed: string; run: RunRow }> = [];
  for (const s of mine) {
    const run = s.state === 'done' && s.row?.runId ? store.runs.get(s.row.runId) : undefined;
    if (run) runs.push({ variant: s.cell.variant, seed: s.cell.seed, run });
    else footnotes.push(`${s.cell.variant} seed ${s.cell.seed}: ${s.state}${s.reason ? ` (${s.reason})` : ''}; left out`);
  }
  const inputs: CompareInput[] = runs.map(({ run }) => {
    const summaries = store.metrics.summaries(run.id);
    // As runs compare: summed step times only stand in for a run without an end time.
    const needSteps = (run.startedAt === null || run.endedAt === null) && summaries.some((x) => x.key === 'train/step_s');
    const stepSeconds = needSteps ? store.metrics.history(run.id, 'train/step_s').reduce((a, p) => a + p.value, 0) : null;
    return { run, summaries, evaluations: store.evaluations.list(run.id), stepSeconds };
  });
  const cmp = buildComparison(inputs);
  const defs = [...STAGE_ROWS[st.task], ...EFFICIENCY_ROWS];
  // compare.ts's notes about rows this table does not show (perplexity of a fine-tuning stage) are dropped.
  const shown = (note: string): boolean => !/^perplexity/.test(note) || defs.some((d) => d.key === 'perplexity');
  footnotes.push(...groupFootnotes(cmp.footnotes, cmp.columns.map((c) => c.header), runs.length).filter(shown));
  const valueOf = (key: ReportRowKey, i: number): number | null => {
    const { run } = runs[i] as (typeof runs)[number];
    // Not applicable reads '-', not 0 (a 0 would read as "best"): only bert-lsh and yoso hash into
    // buckets (exact, yoso-e and reformer record 0 collisions), and yoso forms no query-key
    // products in its forward (it records density 0; its work is its collisions).
    if (key === 'collisions_mean') return COLLIDING.has(run.attention) ? meanOfHistory(store, run.id, 'attn/collisions') : null;
    if (key === 'density_mean') return run.attention === 'yoso' ? null : meanOfHistory(store, run.id, 'attn/density');
    if (key === 'step_ms') return meanOfHistory(store, run.id, 'train/step_s', 1000);
    return cmp.rows.find((r) => r.key === key)?.values[i] ?? null;
  };
  const rows: ReportRow[] = [];
  for (const d of defs) {
    const cells = def.variants.map((v) => {
      const vals = runs.flatMap((r, i) => (r.variant === v.key ? [valueOf(d.key, i)] : []));
      return { variant: v.key, stats: sampleStats(vals), bold: false };
    });
    // An efficiency row that no variant has (collisions of exact-only studies) is left out.
    if (d.efficiency && cells.every((c) => c.stats.mean === null)) continue;
    const best = significantBest(cells.map((c) => c.stats), d.better);
    if (best !== null) (cells[best] as ReportCell).bold = true;
    for (const c of cells)
      if (c.stats.nonFinite > 0) footnotes.push(`${d.label}, ${c.variant}: ${c.stats.nonFinite} non-finite value(s) left out`);
    rows.push({ key: d.key, label: d.label, better: d.better, efficiency: d.efficiency, cells, format: d.format });
  }
  const variants = def.variants.map((v) => {
    const mineRuns = runs.filter((r) => r.variant === v.key);
    return { key: v.key, attention: v.attention, params: v.params, seeds: mineRuns.map((r) => r.seed), runIds: mineRuns.map((r) => r.run.id) };
  });
  if (rows.some((r) => r.key === 'collisions_mean' || r.key === 'density_mean'))
    footnotes.push("density and collisions are means over each run's steps; '-' where they do not apply (collisions: bert-lsh and yoso only; yoso forms no query-key products, its work is its collisions)");
  if (new Set(runs.map((r) => r.run.threads)).size > 1 || runs.some((r) => r.run.threads === null))
    footnotes.push('runs did not all train with the same thread count: runtime and throughput rows compare unequal machines');
  const title = `Stage ${stage + 1} of ${def.stages.length}: ${st.name}, ${TASK_TITLE[st.task]} on ${st.dataset}` + (st.init === 'previous' ? `, from stage ${stage}'s checkpoints` : '');
  return { stage, name: st.name, task: st.task, dataset: st.dataset, title, variants, rows, footnotes };
}

export function buildStudyReport(store: LabStore, studyId: number, def: StudyDefinition): StudyReport {
  const statuses = cellStatuses(def, store.studies.cells(studyId));
  return { study: def.name, seeds: def.seeds, tally: tally(statuses), tables: def.stages.map((_, i) => stageTable(store, def, i, statuses)) };
}
