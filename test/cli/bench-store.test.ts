/**
 * bench-store.test.ts: `lshlab bench store` on a small seed: it seeds, measures and reports every
 * figure, the database passes its integrity check, and nothing is left in the temp directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

test('bench store: seeds, times list / series / appends, integrity ok', () => {
  const bin = path.join(__dirname, '..', '..', '..', 'bin', 'lshlab.js');
  const r = spawnSync(process.execPath, [bin, 'bench', 'store', '--runs', '20', '--points', '20000', '--big', '5000'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^command: lshlab bench store --runs 20 --points 20000 --big 5000$/m);
  assert.match(r.stdout, /runs\.list\(\) of 20 runs: median [\d.]+ ms/);
  assert.match(r.stdout, /series\(5,000-point run, 2000 buckets\) -> \d+ buckets/);
  assert.match(r.stdout, /append: [\d,]+ points in 1000-point batches \(16 keys\/step\) in [\d.]+ s = [\d,]+ points\/s/);
  assert.match(r.stdout, /^integrity_check: ok$/m);
});

test('bench store --concurrent: N writer processes against 1, every point accounted for, integrity ok', () => {
  const bin = path.join(__dirname, '..', '..', '..', 'bin', 'lshlab.js');
  const r = spawnSync(process.execPath, [bin, 'bench', 'store', '--concurrent', '3', '--seconds', '1', '--batch-steps', '8', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    command: string;
    integrity: string;
    results: Array<{ writers: number; pointsPerS: number; perWriter: Array<{ points: number; appends: number; maxMs: number }> }>;
  };
  assert.equal(out.integrity, 'ok');
  assert.deepEqual(out.results.map((x) => x.writers), [1, 3]);
  for (const res of out.results) {
    assert.equal(res.perWriter.length, res.writers);
    assert.ok(Number.isFinite(res.pointsPerS) && res.pointsPerS > 0);
    for (const w of res.perWriter) {
      assert.ok(w.appends > 0);
      assert.equal(w.points, w.appends * 8 * 16, 'whole batches only');
    }
  }
});
