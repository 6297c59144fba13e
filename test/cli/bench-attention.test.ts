/**
 * bench-attention.test.ts: `lshlab bench attention` end to end through bin/lshlab.js and the addon:
 * paper Table 1 JSON (KFLOPs the paper's way exactly 25.6 and 10.24), single runs (positive time,
 * exact's B*H*n^2 dot products), --csv, the short modes, and usage errors (exit 2, flag named).
 * Timings are only checked to be positive: the machine may be busy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src-main/engine/index.js';

const BIN = path.join(packageRoot(), 'bin', 'lshlab.js');

function lshlab(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'bench', 'attention', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
type J = Record<string, unknown>;

test('bench attention --paper-table1 --json: shape and the paper KFLOPs exactly', () => {
  const r = lshlab(['--paper-table1', '--json', '--threads', '2']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as J & { exact: J; bert_lsh: J };
  assert.equal(j.exact['kflops_paper'], 25.6);
  assert.equal(j.bert_lsh['kflops_paper'], 10.24);
  assert.equal(j.exact['dot_products_mean'], 200); // B*H*n^2 = 1*2*10*10
  for (const row of [j.exact, j.bert_lsh]) {
    for (const k of ['kflops_total', 'dot_products_mean', 'time_s_mean', 'time_total_s_mean'])
      assert.ok(typeof row[k] === 'number' && (row[k] as number) > 0, `${k} = ${String(row[k])}`);
    assert.ok((row['kflops_total'] as number) >= (row['kflops_paper'] as number));
  }
  const dots = j.bert_lsh['dot_products_mean'] as number;
  assert.ok(dots > 0 && dots < 200, `bert-lsh dot products ${dots}`);
  assert.equal(j['threads'], 2);
  assert.match(String(j['device']), /^cpu: /);
  assert.match(String(j['reproduce']), /^lshlab bench attention --paper-table1 .*--threads 2$/);
});

test('bench attention single run: positive time, exact computes B*H*n^2 dot products', () => {
  const r = lshlab(['--variant', 'exact', '--seq', '32', '--batch', '2', '--iters', '3', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as J;
  assert.ok((j['time_s_mean'] as number) > 0);
  assert.equal(j['dot_products_mean'], 2 * 2 * 32 * 32);
  assert.ok((j['kflops_total'] as number) > 0);
  assert.equal(j['rel_error_vs_exact'], 0);
});

test('bench attention single bert-lsh run: fewer dot products than pairs, text output', () => {
  const r = lshlab(['--variant', 'bert-lsh', '--seq', '64', '--bands', '2', '--table-size', '64', '--num-hashes', '1',
    '--fill', 'masked', '--backward', '--iters', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as J;
  const dots = j['dot_products_mean'] as number;
  assert.ok(dots > 0 && dots < 2 * 64 * 64, `dot products ${dots}`);
  assert.deepEqual(j['params'], { bands: '2', fill: 'masked', num_hashes: '1', table_size: '64' });
  assert.ok((j['time_backward_s'] as number) > 0);
  const t = lshlab(['--variant', 'bert-lsh', '--seq', '16', '--param', 'bands=4', '--iters', '2']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /time_s_mean/);
  assert.match(t.stdout, /dot_products_mean/);
});

test('bench attention --csv writes the rows', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-bench-'));
  try {
    const file = path.join(dir, 'out.csv');
    const r = lshlab(['--sweep', '--dot-iters', '5', '--csv', file]);
    assert.equal(r.code, 0, r.stderr);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.match(lines[0] ?? '', /^bands,table_size,num_hashes,kflops_paper,kflops_total/);
    assert.equal(lines.length, 1 + 3 * 2 * 4); // header + bands x table x hashes
    assert.match(r.stderr, /sweep 24\/24/); // progress on stderr
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bench attention --scaling and --collisions (small)', () => {
  const s = lshlab(['--scaling', '--max-seq', '256', '--variants', 'exact,bert-lsh', '--json']);
  assert.equal(s.code, 0, s.stderr);
  const rows = (JSON.parse(s.stdout) as { rows: J[] }).rows;
  assert.equal(rows.length, 2 * 2 * 2);
  assert.ok(rows.every((x) => x['status'] === 'ok' && (x['time_s_mean'] as number) > 0));
  const c = lshlab(['--collisions', '--angles', '4', '--trials', '200', '--json']);
  assert.equal(c.code, 0, c.stderr);
  const j = JSON.parse(c.stdout) as { bert_lsh: { rows: J[] }; yoso: { rows: J[] } };
  assert.equal(j.bert_lsh.rows.length, 5);
  assert.equal(j.yoso.rows[0]?.['empirical'], 1);
});

test('bench attention usage errors exit 2 and name the flag', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /--bogus/],
    [['--variant', 'bert-lsh', '--bands', '0'], /--bands/],
    [['--variant', 'nope'], /--variant/],
    [['--variant', 'exact', '--bands', '2'], /--bands/],
    [['--variant', 'bert-lsh', '--param', 'bandz=2'], /--param bandz/],
    [['--fill', 'sometimes'], /--fill/],
    [['--sweep', '--scaling'], /exclude/],
  ];
  for (const [args, re] of cases) {
    const r = lshlab(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('bench attention --scaling --device cuda: parameters belong in --variants (exit 2); without a GPU, the reason (exit 1)', () => {
  const p = lshlab(['--scaling', '--device', 'cuda', '--bands', '4']);
  assert.equal(p.code, 2);
  assert.match(p.stderr, /with --device cuda, give variant parameters in --variants/);
  const other = lshlab(['--paper-table1', '--device', 'cuda']);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /only --scaling runs on CUDA|CUDA unavailable/);
  const info = spawnSync(process.execPath, [BIN, 'info', '--json'], { encoding: 'utf8' });
  const cuda = (JSON.parse(info.stdout) as { cuda?: { available?: boolean } }).cuda;
  if (cuda?.available) return;  // a GPU machine: the sweep would run; the fake-driver tests cover the bridge
  const r = lshlab(['--scaling', '--device', 'cuda', '--max-seq', '512']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /CUDA unavailable/);
});
