/**
 * study-report-render.ts: a StudyReport (study-report.ts) as text, Markdown, LaTeX, CSV or JSON.
 * Text, Markdown and LaTeX are one table per stage through compare.ts's shared grid renderers
 * (the same alignment, escaping and booktabs layout as `runs compare`); a cell reads
 * "mean ± std [low, high]" (LaTeX: $\pm$), with '–' for the std and the interval of a single
 * seed; bold is **…** in Markdown, \textbf in LaTeX and a trailing '*' in text. CSV is long: one
 * record per (stage, measure, variant) with full-precision numbers and the values per seed. JSON
 * holds everything, non-finite numbers as their names. Pure functions.
 */
import { csvNumber, csvRecord, gridLatex, gridMarkdown, gridText, jsonNumber, latexEscape, type Grid, type GridCell } from './compare.js';
import type { ReportRow, ReportTable, StudyReport } from './study-report.js';
import type { SampleStats } from './study-stats.js';

export type StudyReportFormat = 'text' | 'markdown' | 'latex' | 'csv' | 'json';
export const STUDY_REPORT_FORMATS: readonly StudyReportFormat[] = ['text', 'markdown', 'latex', 'csv', 'json'];

const DASH = '–';
export const BOLD_RULE = "bold (in plain text a trailing *): the best mean whose 95% interval overlaps no other variant's";

function cellOf(row: ReportRow, s: SampleStats, bold: boolean): GridCell {
  if (s.mean === null) return { text: '-' };
  const f = (v: number | null): string => (v === null ? DASH : row.format(v));
  const ci = s.ciLow === null ? DASH : `${f(s.ciLow)}, ${f(s.ciHigh)}`;
  const text = `${f(s.mean)} ± ${f(s.std)} [${ci}]`;
  const tex = `${latexEscape(f(s.mean))} $\\pm$ ${s.std === null ? '--' : latexEscape(f(s.std))} [${s.ciLow === null ? '--' : latexEscape(ci)}]`;
  return { text, latex: tex, bold };
}

function gridOf(t: ReportTable, seeds: readonly string[]): Grid {
  const header = ['Metric', ...t.variants.map((v) => `${v.key} (n=${v.seeds.length})`)];
  const body = t.rows.map((r) => [r.label, ...r.cells.map((c) => cellOf(r, c.stats, c.bold))]);
  const variantNotes = t.variants
    .filter((v) => v.key !== v.attention || Object.keys(v.params).length > 0)
    .map((v) => `${v.key}: ${v.attention}${Object.keys(v.params).length ? ` ${Object.entries(v.params).map(([k, x]) => `${k}=${x}`).join(' ')}` : ''}`);
  const footnotes = [
    `mean ± sample std [95% confidence interval, Student's t] over seeds ${seeds.join(', ')}; ${BOLD_RULE}`,
    ...variantNotes,
    ...t.footnotes,
  ];
  return { header, body, footnotes };
}

function renderTables(r: StudyReport, one: (t: ReportTable, g: Grid) => string): string {
  const head = `Study ${r.study}: ${r.tally.done} of ${r.tally.total} runs done` +
    (r.tally.failed ? `, ${r.tally.failed} failed` : '') + (r.tally.blocked ? `, ${r.tally.blocked} blocked` : '') +
    (r.tally.todo + r.tally.running ? `, ${r.tally.todo + r.tally.running} not finished` : '');
  return [head, ...r.tables.map((t) => one(t, gridOf(t, r.seeds)))].join('\n');
}

export function renderStudyText(r: StudyReport): string {
  return renderTables(r, (t, g) => `\n${t.title}\n\n${gridText(g)}`);
}

export function renderStudyMarkdown(r: StudyReport): string {
  return renderTables(r, (t, g) => `\n### ${t.title}\n\n${gridMarkdown(g)}`);
}

export function renderStudyLatex(r: StudyReport): string {
  return renderTables(r, (t, g) => `\n% ${t.title}\n${gridLatex(g)}`).replace(/^Study/, '% Study');
}

export const STUDY_CSV_HEADER = [
  'stage', 'stage_name', 'task', 'dataset', 'metric', 'label', 'efficiency', 'better', 'variant', 'n', 'mean', 'std', 'ci_low', 'ci_high', 'bold', 'values', 'run_ids',
] as const;

export function renderStudyCsv(r: StudyReport): string {
  let out = csvRecord(STUDY_CSV_HEADER);
  const n = (v: number | null): string => (v === null ? '' : csvNumber(v));
  for (const t of r.tables)
    for (const row of t.rows)
      for (const c of row.cells) {
        const v = t.variants.find((x) => x.key === c.variant);
        out += csvRecord([
          String(t.stage + 1), t.name, t.task, t.dataset, row.key, row.label, String(row.efficiency), row.better, c.variant, String(c.stats.n),
          n(c.stats.mean), n(c.stats.std), n(c.stats.ciLow), n(c.stats.ciHigh), String(c.bold), c.stats.values.map(csvNumber).join(';'), (v?.runIds ?? []).join(';'),
        ]);
      }
  return out;
}

export function studyReportJson(r: StudyReport): Record<string, unknown> {
  const stats = (s: SampleStats): Record<string, unknown> => ({
    n: s.n, mean: jsonNumber(s.mean), std: jsonNumber(s.std), ciLow: jsonNumber(s.ciLow), ciHigh: jsonNumber(s.ciHigh), nonFinite: s.nonFinite, values: s.values,
  });
  return {
    study: r.study,
    seeds: r.seeds,
    tally: r.tally,
    tables: r.tables.map((t) => ({
      stage: t.stage + 1, name: t.name, task: t.task, dataset: t.dataset, title: t.title, variants: t.variants,
      rows: t.rows.map((row) => ({ key: row.key, label: row.label, better: row.better, efficiency: row.efficiency, cells: row.cells.map((c) => ({ variant: c.variant, bold: c.bold, ...stats(c.stats) })) })),
      footnotes: t.footnotes,
    })),
  };
}

export function renderStudyReport(r: StudyReport, format: StudyReportFormat): string {
  switch (format) {
    case 'text':
      return renderStudyText(r);
    case 'markdown':
      return renderStudyMarkdown(r);
    case 'latex':
      return renderStudyLatex(r);
    case 'csv':
      return renderStudyCsv(r);
    case 'json':
      return JSON.stringify(studyReportJson(r), null, 2) + '\n';
  }
}
