/**
 * compare.test.ts: the comparison table (lab/compare.ts) from hand-made inputs: row sources
 * (validation evaluation first, fallbacks footnoted, runtime from wall time or summed step times),
 * '-' for missing values, optional rows, and every renderer's exact output (LaTeX escaping, CSV
 * quoting, Markdown pipes, JSON nulls and NaN).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildComparison,
  csvField,
  historyCsvHeader,
  historyCsvRecords,
  latexEscape,
  pickEvaluation,
  renderComparison,
  type CompareInput,
} from '../../src-main/lab/compare.js';
import type { EvaluationRow, MetricSummary, RunRow } from '../../src-main/store/types.js';

function runRow(over: Partial<RunRow> & Pick<RunRow, 'id' | 'name'>): RunRow {
  return {
    uuid: over.id.toString(16).padStart(32, '0'),
    status: 'finished',
    task: 'mlm',
    datasetName: 'wiki',
    datasetId: 1,
    modelConfig: {},
    attention: 'exact',
    attentionParams: {},
    trainConfig: { batchSize: 32 },
    seed: '42',
    color: '#000',
    notes: '',
    tags: [],
    createdAt: 0,
    startedAt: 0,
    endedAt: 100_000,
    error: null,
    lastStep: 200,
    environmentId: null,
    pid: null,
    device: 'cpu',
    threads: null,
    owner: null,
    cancelRequestedAt: null,
    ...over,
  };
}

function summary(key: string, last: number, lastStep = 200): MetricSummary {
  return { key, count: 10, last, lastStep, min: last, minStep: lastStep, max: last, maxStep: lastStep };
}

function evaluation(runId: number, step: number, split: string, metrics: Record<string, number>, time = step): EvaluationRow {
  return { runId, step, split, metrics, time };
}

/** base (exact): everything; lsh (bert-lsh): no evaluation, no batch size. */
function twoRuns(): CompareInput[] {
  return [
    {
      run: runRow({ id: 1, name: 'base' }),
      summaries: [summary('train/loss', 2.5)],
      evaluations: [
        evaluation(1, 100, 'validation', { loss: 3, accuracy: 0.25, perplexity: 20.0855 }),
        evaluation(1, 200, 'validation', { loss: 2, accuracy: 0.5, perplexity: Math.exp(2) }),
        evaluation(1, 300, 'test', { loss: 9, accuracy: 0.9, perplexity: 9 }),
      ],
      stepSeconds: null,
    },
    {
      run: runRow({ id: 2, name: 'lsh', attention: 'bert-lsh', trainConfig: {}, endedAt: 50_000, lastStep: 100 }),
      summaries: [summary('train/loss', 3.25, 100)],
      evaluations: [],
      stepSeconds: null,
    },
  ];
}

test('text table: paper rows, validation evaluation, runtime and rates, - for missing', () => {
  const c = buildComparison(twoRuns());
  assert.deepEqual(
    c.rows.map((r) => r.key),
    ['train_loss', 'eval_loss', 'accuracy', 'perplexity', 'runtime_s', 'samples_per_s', 'steps_per_s'],
  );
  assert.deepEqual(c.columns.map((col) => col.evaluation), [{ step: 200, split: 'validation' }, null]);
  assert.deepEqual(c.footnotes, []);
  assert.equal(
    renderComparison(c, 'text'),
    [
      'Metric           base (exact)  lsh (bert-lsh)',
      '---------------  ------------  --------------',
      'Training loss          2.5000          3.2500',
      'Evaluation loss        2.0000               -',
      'Accuracy               0.5000               -',
      'Perplexity               7.39               -',
      'Runtime (s)            100.00           50.00',
      'Samples/s                  64               -',
      'Steps/s                     2               2',
      '',
    ].join('\n'),
  );
});

test('markdown table', () => {
  assert.equal(
    renderComparison(buildComparison(twoRuns()), 'markdown'),
    [
      '| Metric | base (exact) | lsh (bert-lsh) |',
      '| --- | ---: | ---: |',
      '| Training loss | 2.5000 | 3.2500 |',
      '| Evaluation loss | 2.0000 | - |',
      '| Accuracy | 0.5000 | - |',
      '| Perplexity | 7.39 | - |',
      '| Runtime (s) | 100.00 | 50.00 |',
      '| Samples/s | 64 | - |',
      '| Steps/s | 2 | 2 |',
      '',
    ].join('\n'),
  );
  const piped = twoRuns();
  (piped[0] as CompareInput).run.name = 'a|b';
  assert.match(renderComparison(buildComparison(piped), 'markdown'), /^\| Metric \| a\\\|b \(exact\) \|/);
});

test('latex: booktabs tabular with names escaped', () => {
  const inputs = twoRuns();
  (inputs[0] as CompareInput).run.name = 'lsh_50%';
  (inputs[1] as CompareInput).run.name = 'a&b $x$ #1 {y} ~^\\';
  assert.equal(
    renderComparison(buildComparison(inputs), 'latex'),
    [
      '\\begin{tabular}{lrr}',
      '\\toprule',
      'Metric & lsh\\_50\\% (exact) & a\\&b \\$x\\$ \\#1 \\{y\\} \\textasciitilde{}\\textasciicircum{}\\textbackslash{} (bert-lsh) \\\\',
      '\\midrule',
      'Training loss & 2.5000 & 3.2500 \\\\',
      'Evaluation loss & 2.0000 & - \\\\',
      'Accuracy & 0.5000 & - \\\\',
      'Perplexity & 7.39 & - \\\\',
      'Runtime (s) & 100.00 & 50.00 \\\\',
      'Samples/s & 64 & - \\\\',
      'Steps/s & 2 & 2 \\\\',
      '\\bottomrule',
      '\\end{tabular}',
      '',
    ].join('\n'),
  );
  assert.equal(latexEscape('a_b%c'), 'a\\_b\\%c');
});

test('csv: RFC 4180 quoting of names with commas and quotes, raw numbers, - for missing', () => {
  const inputs = twoRuns();
  (inputs[0] as CompareInput).run.name = 'run, "one"';
  assert.equal(
    renderComparison(buildComparison(inputs), 'csv'),
    [
      'metric,"run, ""one"" (exact)",lsh (bert-lsh)',
      'Training loss,2.5,3.25',
      'Evaluation loss,2,-',
      'Accuracy,0.5,-',
      `Perplexity,${Math.exp(2)},-`,
      'Runtime (s),100,50',
      'Samples/s,64,-',
      'Steps/s,2,2',
      '',
    ].join('\r\n'),
  );
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a\nb'), '"a\nb"');
});

test('json: columns, rows with sources, null for missing, NaN as a string', () => {
  const inputs = twoRuns();
  ((inputs[1] as CompareInput).summaries as MetricSummary[])[0] = summary('train/loss', NaN, 100);
  const j = JSON.parse(renderComparison(buildComparison(inputs), 'json')) as {
    columns: Array<{ id: number; name: string; attention: string; header: string }>;
    rows: Array<{ key: string; label: string; source: string; values: unknown[] }>;
    footnotes: string[];
  };
  assert.deepEqual(j.columns.map((c) => [c.id, c.name, c.attention, c.header]), [
    [1, 'base', 'exact', 'base (exact)'],
    [2, 'lsh', 'bert-lsh', 'lsh (bert-lsh)'],
  ]);
  const row = (k: string): unknown[] => (j.rows.find((r) => r.key === k) as { values: unknown[] }).values;
  assert.deepEqual(row('train_loss'), [2.5, 'NaN']);
  assert.deepEqual(row('eval_loss'), [2, null]);
  assert.deepEqual(row('samples_per_s'), [64, null]);
  assert.match((j.rows[0] as { source: string }).source, /train\/loss/);
  // NaN prints as NaN in text.
  assert.match(renderComparison(buildComparison(inputs), 'text'), /^Training loss\s+2\.5000\s+NaN$/m);
});

test('fallbacks are footnoted: other split, exp(loss) perplexity, summed step time, still running', () => {
  const c = buildComparison(
    [
      {
        run: runRow({ id: 1, name: 'a', endedAt: null, status: 'failed', lastStep: 10 }),
        summaries: [],
        evaluations: [evaluation(1, 5, 'train', { loss: 1 }), evaluation(1, 10, 'test', { loss: Math.log(4), accuracy: 0.75 })],
        stepSeconds: 5,
      },
      {
        run: runRow({ id: 2, name: 'b', status: 'running', startedAt: 1_000, endedAt: null, lastStep: 20 }),
        summaries: [],
        evaluations: [],
        stepSeconds: null,
      },
      {
        run: runRow({ id: 3, name: 'c', status: 'queued', startedAt: null, endedAt: null, lastStep: 0 }),
        summaries: [],
        evaluations: [],
        stepSeconds: null,
      },
    ],
    11_000,
  );
  const row = (k: string): Array<number | null> => (c.rows.find((r) => r.key === k) as { values: Array<number | null> }).values;
  assert.deepEqual(row('eval_loss'), [Math.log(4), null, null]);
  assert.deepEqual(row('accuracy'), [0.75, null, null]);
  assert.ok(Math.abs((row('perplexity')[0] as number) - 4) < 1e-12);
  assert.deepEqual(row('runtime_s'), [5, 10, null]);
  assert.deepEqual(row('steps_per_s'), [2, 2, null]);
  assert.deepEqual(row('samples_per_s'), [64, 64, null]);
  assert.deepEqual(c.columns.map((col) => col.runtimeSource), ['step_s', 'elapsed', null]);
  assert.deepEqual(c.footnotes, [
    "a (exact): evaluation rows from split 'test' at step 10 (no 'validation' evaluation)",
    'a (exact): perplexity = exp(evaluation loss) (the evaluation recorded none)',
    "a (exact): runtime = sum of 'train/step_s' (the run has no end time)",
    'b (exact): still running; runtime = time since start',
  ]);
  const text = renderComparison(c, 'text');
  assert.match(text, /\n\n\[1\] a \(exact\): evaluation rows from split 'test'/);
  assert.match(text, /^Runtime \(s\)\s+5\.00\s+10\.00\s+-$/m);
  assert.match(renderComparison(c, 'latex'), /\n% \[4\] b \(exact\): still running; runtime = time since start\n$/);
  assert.match(renderComparison(c, 'markdown'), /\n\n1\. a \(exact\): evaluation rows/);
});

test('optional rows (exact match, F1, dot products, density) appear only when some run has them', () => {
  const c = buildComparison([
    {
      run: runRow({ id: 1, name: 'qa', task: 'qa', attention: 'bert-lsh' }),
      summaries: [summary('attn/dot_products', 123456), summary('attn/density', 0.125)],
      evaluations: [evaluation(1, 200, 'validation', { loss: 1, exact_match: 0.4, f1: 0.55 })],
      stepSeconds: null,
    },
    { run: runRow({ id: 2, name: 'qa2', task: 'qa' }), summaries: [], evaluations: [], stepSeconds: null },
  ]);
  assert.deepEqual(
    c.rows.map((r) => r.label),
    ['Training loss', 'Evaluation loss', 'Accuracy', 'Perplexity', 'Runtime (s)', 'Samples/s', 'Steps/s', 'Exact match', 'F1',
      'Attention dot products', 'Dot-product density'],
  );
  const text = renderComparison(c, 'text');
  assert.match(text, /^Exact match\s+0\.4000\s+-$/m);
  assert.match(text, /^F1\s+0\.5500\s+-$/m);
  assert.match(text, /^Attention dot products\s+123456\s+-$/m);
  assert.match(text, /^Dot-product density\s+0\.1250\s+-$/m);
});

test('two columns that read the same get their ids', () => {
  const c = buildComparison([
    { run: runRow({ id: 4, name: 'x' }), summaries: [], evaluations: [], stepSeconds: null },
    { run: runRow({ id: 9, name: 'x' }), summaries: [], evaluations: [], stepSeconds: null },
  ]);
  assert.deepEqual(c.columns.map((col) => col.header), ['x (exact) #4', 'x (exact) #9']);
});

test('pickEvaluation: latest validation by step then time, else latest of any split', () => {
  const e = [evaluation(1, 10, 'validation', {}, 5), evaluation(1, 10, 'validation', { a: 1 }, 6), evaluation(1, 50, 'test', {})];
  assert.deepEqual(pickEvaluation(e)?.row.metrics, { a: 1 });
  assert.equal(pickEvaluation(e)?.fallback, false);
  assert.equal(pickEvaluation([evaluation(1, 50, 'test', {}), evaluation(1, 60, 'train', {})])?.row.split, 'train');
  assert.equal(pickEvaluation([]), null);
});

test('history CSV records: every point, NaN and infinities by name, names quoted', () => {
  const out =
    historyCsvHeader() +
    historyCsvRecords({ id: 3, name: 'a,"b"' }, 'train/loss', [
      { step: 1, value: 2.5, time: 1000 },
      { step: 2, value: NaN, time: 1001 },
      { step: 3, value: -Infinity, time: 1002 },
    ]);
  assert.equal(
    out,
    'run_id,run_name,key,step,value,time\r\n' +
      '3,"a,""b""",train/loss,1,2.5,1000\r\n' +
      '3,"a,""b""",train/loss,2,NaN,1001\r\n' +
      '3,"a,""b""",train/loss,3,-Infinity,1002\r\n',
  );
});

test('a fine-tuned run gets a "Weights from" row (text, Markdown, CSV) and columns[i].weightsFrom; others do not', () => {
  const plain = twoRuns();
  assert.ok(buildComparison(plain).columns.every((c) => c.weightsFrom === null));
  assert.doesNotMatch(renderComparison(buildComparison(plain), 'text'), /Weights from/);

  const inputs = twoRuns();
  const lsh = inputs[1]!;
  lsh.run = {
    ...lsh.run,
    trainConfig: {
      initFrom: { dir: '/lab/runs/x/checkpoints/step-00000300', kind: 'lshlab-run', sourceRunId: 1, sourceRunName: 'base', sourceStep: 300, sourceAttention: 'exact', ignored: ['cls.predictions.bias'] },
    },
  };
  const c = buildComparison(inputs);
  assert.deepEqual(c.columns.map((col) => col.weightsFrom), [null, 'run 1 (base) step 300, exact attention']);
  assert.match(renderComparison(c, 'text'), /^Weights from +- +run 1 \(base\) step 300, exact attention\n/m);
  assert.match(renderComparison(c, 'markdown'), /^\| Weights from \| - \| run 1 \(base\) step 300, exact attention \|$/m);
  assert.match(renderComparison(c, 'csv'), /^metric,.*\r\nWeights from,-,"run 1 \(base\) step 300, exact attention"\r\n/);
  const json = JSON.parse(renderComparison(c, 'json')) as { columns: Array<{ weightsFrom: string | null }> };
  assert.equal(json.columns[1]!.weightsFrom, 'run 1 (base) step 300, exact attention');

  // A Hugging Face folder; the same variant as the source is not repeated.
  inputs[0]!.run = { ...inputs[0]!.run, trainConfig: { batchSize: 32, initFrom: { dir: '/models/bert-tiny', kind: 'hf-folder', sourceAttention: 'exact', ignored: [] } } };
  assert.equal(buildComparison(inputs).columns[0]!.weightsFrom, 'Hugging Face folder /models/bert-tiny');
});
