/**
 * runs.test.ts: the `lshlab runs ...` commands through main() with captured output, on a temp data
 * dir holding the real store and the fixture's three runs: list (text columns and JSON, filters),
 * show, compare in every format and --out (atomic, no temp file left), export (JSON, CSV, full
 * history), rm (refused for a running run, --force), tag / note / rename round trips, and errors
 * (unknown ref names it, exit 1; missing REF is a usage error, exit 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src-main/cli/main.js';
import { formatTime } from '../../src-main/cli/commands/runs.js';
import { makeLab, T0, type Lab } from '../lab/runs-fixture.js';
import { RunClaim } from '../../src-main/training/run-owner.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function lshlab(lab: Lab, args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await main([...args, '--data-dir', lab.dir], {
    stdout: { write: (s) => void (stdout += s), isTTY: false },
    stderr: { write: (s) => void (stderr += s), isTTY: false },
    env: {},
  });
  return { code, stdout, stderr };
}

/** The fixture with its store closed, so each command opens it like a user would; the running
 *  run's owner lock is held meanwhile, as by a live `lshlab train`, so it is really running. */
function closedLab(): Lab {
  const lab = makeLab();
  lab.store.close();
  const lock = RunClaim.take(lab.dir, lab.live.uuid);
  const cleanup = lab.cleanup;
  lab.cleanup = () => {
    lock.release();
    cleanup();
  };
  return lab;
}

test('runs list: columns, newest first, - for a missing value, filters, --json', async () => {
  const lab = closedLab();
  try {
    const r = await lshlab(lab, ['runs', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] as string, /^id\s+name\s+status\s+task\s+attention\s+dataset\s+steps\s+train loss\s+best loss\s+best eval loss\s+best eval\s+created\s+duration$/);
    assert.match(lines[1] as string, /^-+ +-+/);
    const created = formatTime(lab.live.createdAt);
    const cells = (line: string): string[] => line.split(/\s{2,}/).map((s) => s.trim());
    assert.deepEqual(cells(lines[2] as string).slice(0, 11), [String(lab.live.id), 'live', 'running', 'classification', 'exact', 'wiki', '10', '0.7', '0.7@10', '-', '-']);
    // Best losses and the best accuracy with the step that first reached them (lsh_50%'s from its 'test' split).
    assert.deepEqual(cells(lines[3] as string), [String(lab.lsh.id), 'lsh_50%', 'finished', 'mlm', 'bert-lsh', 'wiki', '100', '3.25', '3.25@100', '1@100', 'acc 0.75@100', formatTime(lab.lsh.createdAt), '50.0s']);
    assert.deepEqual(cells(lines[4] as string), [String(lab.baseline.id), 'baseline', 'finished', 'mlm', 'exact', 'wiki', '200', '5', '5@200', '2@200', 'acc 0.5@200', formatTime(lab.baseline.createdAt), '1m40s']);
    assert.ok((lines[2] as string).includes(created));
    assert.equal(lines.length, 5);

    const f = await lshlab(lab, ['runs', 'list', '--status', 'finished', '--attention', 'exact']);
    assert.equal(f.stdout.trimEnd().split('\n').length, 3);
    assert.match(f.stdout, /baseline/);

    const j = await lshlab(lab, ['runs', 'list', '--tag', 'paper', '--limit', '1', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const arr = JSON.parse(j.stdout) as Array<{ name: string; lastTrainLoss: number; durationS: number; tags: string[]; best: { trainLoss: unknown; evalScore: unknown } }>;
    assert.deepEqual(arr.map((x) => [x.name, x.lastTrainLoss, x.best.trainLoss, x.best.evalScore]), [['live', 0.7, { value: 0.7, step: 10 }, null]]);

    const none = await lshlab(lab, ['runs', 'list', '--tag', 'nothing']);
    assert.equal(none.stdout, 'no runs\n');
    const bad = await lshlab(lab, ['runs', 'list', '--status', 'sleeping']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--status/);
  } finally {
    lab.cleanup();
  }
});

test('runs show: text sections and --json', async () => {
  const lab = closedLab();
  try {
    const r = await lshlab(lab, ['runs', 'show', 'lsh_50%']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^name {9}lsh_50%$/m);
    assert.match(r.stdout, /^attention {4}bert-lsh bands=2$/m);
    assert.match(r.stdout, /^duration {5}50\.0s$/m);
    assert.match(r.stdout, /^environment  -$/m);
    assert.match(r.stdout, /^metrics\nkey +points +last +at step +min +max$/m);
    assert.match(r.stdout, /^train\/loss +2 +3\.25 +100 /m);
    assert.match(r.stdout, /^evaluations\nstep +split +accuracy +loss$/m);
    assert.match(r.stdout, /^ *100 +test +0\.75 +1$/m);
    assert.match(r.stdout, /^checkpoints\nstep +bytes +path$/m);

    const j = await lshlab(lab, ['runs', 'show', String(lab.baseline.id), '--json']);
    const d = JSON.parse(j.stdout) as { run: { name: string }; summaries: unknown[]; evaluations: unknown[]; environment: { cpu: string } };
    assert.equal(d.run.name, 'baseline');
    assert.equal(d.summaries.length, 2);
    assert.equal(d.evaluations.length, 2);
    assert.equal(d.environment.cpu, 'test cpu');
  } finally {
    lab.cleanup();
  }
});

test('runs compare: text with - and footnotes, latex escaping, csv, --out written atomically', async () => {
  const lab = closedLab();
  try {
    const r = await lshlab(lab, ['runs', 'compare', 'baseline', 'lsh_50%']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'Metric                  baseline (exact)  lsh_50% (bert-lsh)',
        '----------------------  ----------------  ------------------',
        'Training loss                     5.0000              3.2500',
        'Evaluation loss                   2.0000              1.0000',
        'Accuracy                          0.5000              0.7500',
        'Perplexity                          7.39                2.72',
        'Runtime (s)                       100.00               50.00',
        'Samples/s                             64                   -',
        'Steps/s                                2                   2',
        'Attention dot products                 -                1234',
        'Dot-product density                    -              0.1250',
        '',
        "[1] lsh_50% (bert-lsh): evaluation rows from split 'test' at step 100 (no 'validation' evaluation)",
        '[2] lsh_50% (bert-lsh): perplexity = exp(evaluation loss) (the evaluation recorded none)',
        '',
      ].join('\n'),
    );
    const tex = await lshlab(lab, ['runs', 'compare', 'baseline', 'lsh_50%', '--format', 'latex']);
    assert.match(tex.stdout, /^Metric & baseline \(exact\) & lsh\\_50\\% \(bert-lsh\) \\\\$/m);
    assert.match(tex.stdout, /^Samples\/s & 64 & - \\\\$/m);

    const out = path.join(lab.dir, 'out', 'table.csv');
    const c = await lshlab(lab, ['runs', 'compare', String(lab.baseline.id), 'lsh_50%', '--format', 'csv', '--out', out]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, '');
    assert.match(c.stderr, /wrote .*table\.csv/);
    const text = fs.readFileSync(out, 'utf8');
    assert.ok(text.startsWith('metric,baseline (exact),lsh_50% (bert-lsh)\r\nTraining loss,5,3.25\r\n'));
    assert.deepEqual(fs.readdirSync(path.dirname(out)), ['table.csv']);

    const md = await lshlab(lab, ['runs', 'compare', 'baseline', '--format', 'markdown']);
    assert.match(md.stdout, /^\| Training loss \| 5\.0000 \|$/m);
    const js = await lshlab(lab, ['runs', 'compare', 'baseline', 'lsh_50%', '--format', 'json']);
    assert.deepEqual((JSON.parse(js.stdout) as { rows: Array<{ key: string; values: unknown[] }> }).rows[5], {
      key: 'samples_per_s',
      label: 'Samples/s',
      source: "(lastStep - 'train/start_step') * trainConfig.batchSize / runtime",
      values: [64, null],
    });
  } finally {
    lab.cleanup();
  }
});

test('runs export: json, runs csv, full history csv with every point', async () => {
  const lab = closedLab();
  try {
    const j = await lshlab(lab, ['runs', 'export', 'baseline', '--metrics']);
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout) as { format: string; runs: Array<{ metrics: Record<string, unknown[]> }> };
    assert.equal(doc.format, 'lshlab-runs');
    assert.equal(doc.runs[0]?.metrics['train/step_s']?.length, 200);

    const all = await lshlab(lab, ['runs', 'export', '--all', '--format', 'csv']);
    assert.equal(all.stdout.split('\r\n').length, 1 + 3 + 1);

    const out = path.join(lab.dir, 'history.csv');
    const h = await lshlab(lab, ['runs', 'export', 'baseline', 'lsh_50%', '--format', 'csv', '--metrics', '--out', out]);
    assert.equal(h.code, 0, h.stderr);
    const lines = fs.readFileSync(out, 'utf8').split('\r\n');
    assert.equal(lines[0], 'run_id,run_name,key,step,value,time');
    assert.equal(lines.length, 1 + 400 + 4 + 1);
    assert.ok(lines.includes(`${lab.lsh.id},lsh_50%,train/loss,99,NaN,${T0 + 1}`));

    const none = await lshlab(lab, ['runs', 'export']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--all/);
  } finally {
    lab.cleanup();
  }
});

test('runs rm refuses a running run, --force removes it; rows and run directory go', async () => {
  const lab = closedLab();
  try {
    const refused = await lshlab(lab, ['runs', 'rm', 'live']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to remove a running run: 'live'.*--force/);
    const lshDir = path.join(lab.dir, 'runs', lab.lsh.uuid);
    const r = await lshlab(lab, ['runs', 'rm', 'lsh_50%']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `removed run 'lsh_50%' (id ${lab.lsh.id}) and ${lshDir}\n`);
    assert.equal(fs.existsSync(lshDir), false);
    const f = await lshlab(lab, ['runs', 'rm', 'live', '--force']);
    assert.equal(f.code, 0, f.stderr);
    const left = JSON.parse((await lshlab(lab, ['runs', 'list', '--json'])).stdout) as Array<{ name: string }>;
    assert.deepEqual(left.map((x) => x.name), ['baseline']);
  } finally {
    lab.cleanup();
  }
});

test('runs tag / note / rename round trips', async () => {
  const lab = closedLab();
  try {
    const t = await lshlab(lab, ['runs', 'tag', 'baseline', 'table2', 'best']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^tags of 'baseline' \(id \d+\): /);
    for (const tag of ['paper', 'table2', 'best']) assert.match(t.stdout, new RegExp(`\\b${tag}\\b`));
    const u = await lshlab(lab, ['runs', 'tag', 'baseline', 'paper', 'best', '--remove']);
    assert.equal(u.stdout, `tags of 'baseline' (id ${lab.baseline.id}): table2\n`);
    const listed = JSON.parse((await lshlab(lab, ['runs', 'list', '--tag', 'table2', '--json'])).stdout) as Array<{ name: string }>;
    assert.deepEqual(listed.map((x) => x.name), ['baseline']);

    const n = await lshlab(lab, ['runs', 'note', 'baseline', 'bands 2,', 'table 64']);
    assert.equal(n.code, 0, n.stderr);
    const shown = JSON.parse((await lshlab(lab, ['runs', 'show', 'baseline', '--json'])).stdout) as { run: { notes: string } };
    assert.equal(shown.run.notes, 'bands 2, table 64');
    const cleared = await lshlab(lab, ['runs', 'note', 'baseline', '']);
    assert.match(cleared.stdout, /^cleared the notes/);

    const rn = await lshlab(lab, ['runs', 'rename', 'baseline', 'base-2']);
    assert.equal(rn.stdout, `renamed run ${lab.baseline.id} to 'base-2'\n`);
    assert.equal((await lshlab(lab, ['runs', 'show', 'base-2'])).code, 0);
  } finally {
    lab.cleanup();
  }
});

test('runs errors: unknown ref named (exit 1), missing REF and extra args are usage errors (exit 2)', async () => {
  const lab = closedLab();
  try {
    for (const args of [['runs', 'show', 'ghost'], ['runs', 'compare', 'baseline', 'ghost'], ['runs', 'rm', 'ghost'], ['runs', 'note', 'ghost', 'x']]) {
      const r = await lshlab(lab, args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /no run matches 'ghost'/);
      assert.equal(r.stdout, '');
    }
    const missing = await lshlab(lab, ['runs', 'show']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /'runs show' needs a run/);
    const extra = await lshlab(lab, ['runs', 'show', 'baseline', 'lsh_50%']);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /unexpected argument 'lsh_50%'/);
    const tagOnly = await lshlab(lab, ['runs', 'tag', 'baseline']);
    assert.equal(tagOnly.code, 2);
  } finally {
    lab.cleanup();
  }
});
