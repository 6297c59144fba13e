/**
 * compare.ts: the run comparison table in the BERT-LSH paper's layout (one row per measure, one
 * column per run headed "name (attention)") and its renderers: plain text, Markdown, LaTeX
 * (booktabs), CSV (RFC 4180) and JSON; plus the unsampled metric-history CSV. Pure functions: the
 * data comes in (lab/runs.ts reads it from the store), text goes out; nothing here prints.
 *
 * Where every row comes from (see ROWS below; docs/cli.md repeats it):
 *   Training loss    metric 'train/loss', its last value (MetricSummary.last).
 *   Evaluation loss  `loss` of the run's evaluation E (below).
 *   Accuracy         `accuracy` of E.
 *   Perplexity       `perplexity` of E, else exp(E.loss) (footnoted).
 *   Runtime (s)      endedAt - startedAt in seconds; if the run has no end (or no start), the sum
 *                    of every 'train/step_s' point (footnoted); a running run without step times:
 *                    now - startedAt (footnoted); else missing.
 *   Samples/s        steps trained * trainConfig.batchSize / runtime, where steps trained =
 *                    run.lastStep - the metric 'train/start_step' (recorded by resumed runs).
 *   Steps/s          steps trained / runtime.
 *   Exact match      `exact_match` of E (row shown only when some run has it: QA).
 *   F1               `f1` of E (row shown only when some run has it: QA, 2-class classification).
 *   Attention dot products  metric 'attn/dot_products', last value (shown when some run has it).
 *   Dot-product density     metric 'attn/density' (dot products / pairs), last value (when present).
 *   LSH collisions          metric 'attn/collisions', last value (when present; yoso's counterpart
 *                           of dot products: it computes none, its work follows the collisions).
 *   Weights from     a fine-tuned run's trainConfig.initFrom (training/lineage.ts): the source run and
 *                    step, or the checkpoint / Hugging Face folder; a text row above the measures,
 *                    shown only when some run was initialised from other weights ('-' for the others;
 *                    JSON: columns[i].weightsFrom).
 * E = the evaluation with the highest step (then the latest time) on split 'validation'; if the run
 * has none on 'validation', the highest-step evaluation of any split (footnoted, naming the split).
 * A value that is missing prints as '-' (JSON: null); NaN and infinities print as NaN, Infinity,
 * -Infinity (JSON: the strings "NaN", "Infinity", "-Infinity").
 */
import type { EvaluationRow, FullPoint, MetricSummary, RunRow } from '../store/types.js';
import { describeLineage, lineageOfRun } from '../training/lineage.js';

/** What the table needs about one run. */
export interface CompareInput {
  run: RunRow;
  summaries: readonly MetricSummary[];
  evaluations: readonly EvaluationRow[];
  /** Sum of every 'train/step_s' point, or null if the run has no such metric. */
  stepSeconds: number | null;
}

export type CompareRowKey =
  | 'train_loss'
  | 'eval_loss'
  | 'accuracy'
  | 'perplexity'
  | 'runtime_s'
  | 'samples_per_s'
  | 'steps_per_s'
  | 'exact_match'
  | 'f1'
  | 'dot_products'
  | 'density'
  | 'collisions';

export interface CompareRowDef {
  key: CompareRowKey;
  label: string;
  /** Where the value comes from, in words (also in the JSON output). */
  source: string;
  /** Shown even when every run lacks it. */
  always: boolean;
  /** Text / Markdown / LaTeX formatting of a finite value. */
  format: (v: number) => string;
}

const fixed = (d: number) => (v: number): string => v.toFixed(d);
const sig = (d: number) => (v: number): string => {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e15) return v.toExponential(d - 1);
  return Number(v.toPrecision(Math.max(d, Math.ceil(Math.log10(a + 1))))).toString();
};

export const ROWS: readonly CompareRowDef[] = [
  { key: 'train_loss', label: 'Training loss', source: "last value of metric 'train/loss'", always: true, format: fixed(4) },
  { key: 'eval_loss', label: 'Evaluation loss', source: "'loss' of the latest 'validation' evaluation", always: true, format: fixed(4) },
  { key: 'accuracy', label: 'Accuracy', source: "'accuracy' of the latest 'validation' evaluation", always: true, format: fixed(4) },
  {
    key: 'perplexity',
    label: 'Perplexity',
    source: "'perplexity' of the latest 'validation' evaluation, else exp(its loss)",
    always: true,
    format: fixed(2),
  },
  {
    key: 'runtime_s',
    label: 'Runtime (s)',
    source: "endedAt - startedAt; without an end, the sum of metric 'train/step_s'",
    always: true,
    format: fixed(2),
  },
  { key: 'samples_per_s', label: 'Samples/s', source: "(lastStep - 'train/start_step') * trainConfig.batchSize / runtime", always: true, format: sig(4) },
  { key: 'steps_per_s', label: 'Steps/s', source: "(lastStep - 'train/start_step') / runtime", always: true, format: sig(4) },
  { key: 'exact_match', label: 'Exact match', source: "'exact_match' of the latest 'validation' evaluation", always: false, format: fixed(4) },
  { key: 'f1', label: 'F1', source: "'f1' of the latest 'validation' evaluation", always: false, format: fixed(4) },
  { key: 'dot_products', label: 'Attention dot products', source: "last value of metric 'attn/dot_products'", always: false, format: sig(4) },
  { key: 'density', label: 'Dot-product density', source: "last value of metric 'attn/density' (dot products computed / query-key pairs)", always: false, format: fixed(4) },
  { key: 'collisions', label: 'LSH collisions', source: "last value of metric 'attn/collisions' ((query, key, hash) bucket matches)", always: false, format: sig(4) },
];

export interface CompareColumn {
  id: number;
  uuid: string;
  name: string;
  attention: string;
  status: string;
  task: string;
  /** "name (attention)", plus " #id" when two columns would otherwise read the same. */
  header: string;
  /** The evaluation the eval rows come from, if any. */
  evaluation: { step: number; split: string } | null;
  /** How runtime was measured: 'wall' (endedAt - startedAt), 'step_s' (summed step times), 'elapsed' (running: now - startedAt). */
  runtimeSource: 'wall' | 'step_s' | 'elapsed' | null;
  /** Where the run's initial weights came from (fine-tuning), or null (trained from its seed). */
  weightsFrom: string | null;
}

export interface CompareRow {
  key: CompareRowKey;
  label: string;
  source: string;
  /** One per column; null = missing. */
  values: Array<number | null>;
}

export interface Comparison {
  columns: CompareColumn[];
  rows: CompareRow[];
  /** Deviations from the row definitions, one line each, naming the run. */
  footnotes: string[];
}

/** The evaluation the eval rows use: latest on 'validation', else latest of any split. */
export function pickEvaluation(evals: readonly EvaluationRow[]): { row: EvaluationRow; fallback: boolean } | null {
  const latest = (rows: readonly EvaluationRow[]): EvaluationRow | undefined =>
    rows.reduce<EvaluationRow | undefined>(
      (best, e) => (best === undefined || e.step > best.step || (e.step === best.step && e.time >= best.time) ? e : best),
      undefined,
    );
  const v = latest(evals.filter((e) => e.split === 'validation'));
  if (v) return { row: v, fallback: false };
  const any = latest(evals);
  return any ? { row: any, fallback: true } : null;
}

/** trainConfig.batchSize (or batch_size), if it is a positive number. */
export function batchSizeOf(trainConfig: Record<string, unknown>): number | null {
  for (const k of ['batchSize', 'batch_size']) {
    const v = trainConfig[k];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  }
  return null;
}

const metricOf = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** Builds the table. `now` is used only for a running run's elapsed time. */
export function buildComparison(inputs: readonly CompareInput[], now: number = Date.now()): Comparison {
  const footnotes: string[] = [];
  const columns: CompareColumn[] = [];
  const values = new Map<CompareRowKey, Array<number | null>>(ROWS.map((r) => [r.key, []]));
  const put = (k: CompareRowKey, v: number | null): void => void values.get(k)?.push(v);

  const headers = inputs.map((i) => `${i.run.name} (${i.run.attention})`);
  for (const [ci, input] of inputs.entries()) {
    const { run } = input;
    const header = headers.filter((h) => h === headers[ci]).length > 1 ? `${headers[ci]} #${run.id}` : (headers[ci] as string);
    const summary = (key: string): number | null => input.summaries.find((s) => s.key === key)?.last ?? null;

    const picked = pickEvaluation(input.evaluations);
    const m = picked?.row.metrics ?? {};
    if (picked?.fallback)
      footnotes.push(`${header}: evaluation rows from split '${picked.row.split}' at step ${picked.row.step} (no 'validation' evaluation)`);

    let perplexity = metricOf(m['perplexity']);
    const evalLoss = metricOf(m['loss']);
    if (perplexity === null && evalLoss !== null) {
      perplexity = Math.exp(evalLoss);
      footnotes.push(`${header}: perplexity = exp(evaluation loss) (the evaluation recorded none)`);
    }

    let runtime: number | null = null;
    let runtimeSource: CompareColumn['runtimeSource'] = null;
    if (run.startedAt !== null && run.endedAt !== null) {
      runtime = (run.endedAt - run.startedAt) / 1000;
      runtimeSource = 'wall';
    } else if (input.stepSeconds !== null) {
      runtime = input.stepSeconds;
      runtimeSource = 'step_s';
      footnotes.push(`${header}: runtime = sum of 'train/step_s' (the run has no end time)`);
    } else if (run.status === 'running' && run.startedAt !== null) {
      runtime = Math.max(0, (now - run.startedAt) / 1000);
      runtimeSource = 'elapsed';
      footnotes.push(`${header}: still running; runtime = time since start`);
    }
    const usable = runtime !== null && runtime > 0 ? runtime : null;
    const batch = batchSizeOf(run.trainConfig);

    put('train_loss', summary('train/loss'));
    put('eval_loss', evalLoss);
    put('accuracy', metricOf(m['accuracy']));
    put('perplexity', perplexity);
    put('runtime_s', runtime);
    // Steps this run trained: a run resumed from a checkpoint of step s records 'train/start_step' = s.
    const trained = run.lastStep - (summary('train/start_step') ?? 0);
    put('samples_per_s', usable !== null && batch !== null ? (trained * batch) / usable : null);
    put('steps_per_s', usable !== null ? trained / usable : null);
    put('exact_match', metricOf(m['exact_match']));
    put('f1', metricOf(m['f1']));
    put('dot_products', summary('attn/dot_products'));
    put('density', summary('attn/density'));
    put('collisions', summary('attn/collisions'));

    columns.push({
      id: run.id,
      uuid: run.uuid,
      name: run.name,
      attention: run.attention,
      status: run.status,
      task: run.task,
      header,
      evaluation: picked ? { step: picked.row.step, split: picked.row.split } : null,
      runtimeSource,
      weightsFrom: ((l) => (l ? describeLineage(l, run.attention, true) : null))(lineageOfRun(run)),
    });
  }
  const rows = ROWS.flatMap((def): CompareRow[] => {
    const vals = values.get(def.key) ?? [];
    if (!def.always && vals.every((v) => v === null)) return [];
    return [{ key: def.key, label: def.label, source: def.source, values: vals }];
  });
  return { columns, rows, footnotes };
}

// ---- renderers --------------------------------------------------------------------------------

export type CompareFormat = 'text' | 'markdown' | 'latex' | 'csv' | 'json';
export const COMPARE_FORMATS: readonly CompareFormat[] = ['text', 'markdown', 'latex', 'csv', 'json'];

const MISSING = '-';
const defOf = (key: CompareRowKey): CompareRowDef => ROWS.find((r) => r.key === key) as CompareRowDef;

/** A cell as text: '-' when missing, NaN / Infinity / -Infinity as such, else the row's format. */
export function formatCell(key: CompareRowKey, v: number | null): string {
  if (v === null) return MISSING;
  if (!Number.isFinite(v)) return String(v);
  return defOf(key).format(v);
}

export const WEIGHTS_FROM = 'Weights from';

/** The "Weights from" text row, when some column was fine-tuned from other weights. */
function weightsRow(c: Comparison): string[][] {
  if (c.columns.every((col) => col.weightsFrom === null)) return [];
  return [[WEIGHTS_FROM, ...c.columns.map((col) => col.weightsFrom ?? MISSING)]];
}

function grid(c: Comparison): Grid {
  return {
    header: ['Metric', ...c.columns.map((col) => col.header)],
    body: [...weightsRow(c), ...c.rows.map((r) => [r.label, ...r.values.map((v) => formatCell(r.key, v))])],
    footnotes: c.footnotes,
  };
}

/** Plain text for a terminal. */
export function renderText(c: Comparison): string {
  return gridText(grid(c));
}

export function renderMarkdown(c: Comparison): string {
  return gridMarkdown(grid(c));
}

/** A booktabs tabular (needs \usepackage{booktabs}); footnotes follow as LaTeX comments. */
export function renderLatex(c: Comparison): string {
  return gridLatex(grid(c));
}

// ---- table renderers shared with other paper-style tables (lab/study-report.ts) ----------------

/** A cell: its text, its LaTeX when that differs (math such as $\pm$, written unescaped), emphasis. */
export interface GridCell {
  text: string;
  latex?: string;
  bold?: boolean;
}

/** A table: first column labels (left-aligned), the others values (right-aligned). */
export interface Grid {
  header: string[];
  body: Array<Array<string | GridCell>>;
  footnotes: string[];
}

const cellOf = (c: string | GridCell): GridCell => (typeof c === 'string' ? { text: c } : c);

/** Aligned columns: labels left, values right; a bold cell ends in '*' (text has no bold); footnotes below. */
export function gridText(g: Grid): string {
  const body = g.body.map((r) => r.map((c) => (cellOf(c).bold ? `${cellOf(c).text}*` : cellOf(c).text)));
  const widths = g.header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((s, i) => (i === 0 ? s.padEnd(widths[i] as number) : s.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const out = [line(g.header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  if (g.footnotes.length > 0) out.push('', ...g.footnotes.map((f, i) => `[${i + 1}] ${f}`));
  return out.join('\n') + '\n';
}

/** Escapes a Markdown table cell (pipes, backslashes, newlines). */
export function markdownEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n|\r/g, ' ');
}

/** A GitHub Markdown table; bold cells as **text**; footnotes as a numbered list. */
export function gridMarkdown(g: Grid): string {
  const md = (c: string | GridCell): string => {
    const x = cellOf(c);
    return x.bold ? `**${markdownEscape(x.text)}**` : markdownEscape(x.text);
  };
  const row = (cells: Array<string | GridCell>): string => `| ${cells.map(md).join(' | ')} |`;
  const out = [row(g.header), `| ${g.header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...g.body.map(row)];
  if (g.footnotes.length > 0) out.push('', ...g.footnotes.map((f, i) => `${i + 1}. ${markdownEscape(f)}`));
  return out.join('\n') + '\n';
}

const LATEX_SPECIALS: Record<string, string> = {
  '\\': '\\textbackslash{}',
  '&': '\\&',
  '%': '\\%',
  $: '\\$',
  '#': '\\#',
  _: '\\_',
  '{': '\\{',
  '}': '\\}',
  '~': '\\textasciitilde{}',
  '^': '\\textasciicircum{}',
};

/** Escapes text for LaTeX (the ten special characters; newlines become spaces). */
export function latexEscape(s: string): string {
  return s.replace(/[\\&%$#_{}~^]/g, (ch) => LATEX_SPECIALS[ch] as string).replace(/\r?\n|\r/g, ' ');
}

/** A booktabs tabular (needs \usepackage{booktabs}); bold cells in \textbf; footnotes as LaTeX comments. */
export function gridLatex(g: Grid): string {
  const tex = (c: string | GridCell): string => {
    const x = cellOf(c);
    const body = x.latex ?? latexEscape(x.text);
    return x.bold ? `\\textbf{${body}}` : body;
  };
  const row = (cells: Array<string | GridCell>): string => `${cells.map(tex).join(' & ')} \\\\`;
  const out = [
    `\\begin{tabular}{l${'r'.repeat(Math.max(0, g.header.length - 1))}}`,
    '\\toprule',
    row(g.header),
    '\\midrule',
    ...g.body.map(row),
    '\\bottomrule',
    '\\end{tabular}',
  ];
  out.push(...g.footnotes.map((f, i) => `% [${i + 1}] ${f.replace(/\r?\n|\r/g, ' ')}`));
  return out.join('\n') + '\n';
}

/** One RFC 4180 field: quoted when it holds a comma, a quote, CR or LF (quotes doubled). */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One RFC 4180 record, CRLF-terminated. */
export function csvRecord(fields: readonly string[]): string {
  return fields.map(csvField).join(',') + '\r\n';
}

/** A number for CSV / export: shortest round-trip decimal; NaN, Infinity, -Infinity by name. */
export function csvNumber(v: number): string {
  return String(v);
}

/** CSV: header "metric" + column headers; values unformatted (full precision), '-' when missing. */
export function renderCsv(c: Comparison): string {
  let out = csvRecord(['metric', ...c.columns.map((col) => col.header)]);
  for (const w of weightsRow(c)) out += csvRecord(w);
  for (const r of c.rows) out += csvRecord([r.label, ...r.values.map((v) => (v === null ? MISSING : csvNumber(v)))]);
  return out;
}

/** A JSON-safe number: non-finite values become their names (JSON has no NaN). */
export function jsonNumber(v: number | null): number | string | null {
  if (v === null) return null;
  return Number.isFinite(v) ? v : String(v);
}

export function comparisonJson(c: Comparison): Record<string, unknown> {
  return {
    columns: c.columns,
    rows: c.rows.map((r) => ({ key: r.key, label: r.label, source: r.source, values: r.values.map(jsonNumber) })),
    footnotes: c.footnotes,
  };
}

export function renderJson(c: Comparison): string {
  return JSON.stringify(comparisonJson(c), null, 2) + '\n';
}

export function renderComparison(c: Comparison, format: CompareFormat): string {
  switch (format) {
    case 'text':
      return renderText(c);
    case 'markdown':
      return renderMarkdown(c);
    case 'latex':
      return renderLatex(c);
    case 'csv':
      return renderCsv(c);
    case 'json':
      return renderJson(c);
  }
}

// ---- metric history ---------------------------------------------------------------------------

export const HISTORY_CSV_HEADER = ['run_id', 'run_name', 'key', 'step', 'value', 'time'] as const;

/** The history CSV's header record. */
export function historyCsvHeader(): string {
  return csvRecord(HISTORY_CSV_HEADER);
}

/** The CSV records of one series (every point, in the order given). */
export function historyCsvRecords(run: Pick<RunRow, 'id' | 'name'>, key: string, points: readonly FullPoint[]): string {
  let out = '';
  for (const p of points) out += csvRecord([String(run.id), run.name, key, String(p.step), csvNumber(p.value), String(p.time)]);
  return out;
}
