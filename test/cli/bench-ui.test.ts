/**
 * bench-ui.test.ts: `lshlab bench ui` end to end at tiny sizes (200 runs, 20,000-point curves, 2 s
 * of live run): it seeds its temp lab, drives the real `lshlab serve` in headless Chromium, and
 * prints one JSON object whose figures are all finite. Timing targets are NOT asserted here (a
 * test machine's load decides them; the bench command reports them). Skipped, saying why, when no
 * Chromium is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findChromium, REPO_ROOT } from '../e2e/serve-process.js';
import type { PageTimes, UiBenchResult } from '../../src-main/cli/bench-ui/report.js';

const finite = (x: unknown, what: string): void => assert.ok(typeof x === 'number' && Number.isFinite(x), `${what} is ${String(x)}`);

function checkPage(p: PageTimes, what: string): void {
  for (const k of ['medianMs', 'maxMs', 'markMedianMs'] as const) {
    finite(p[k], `${what}.${k}`);
    assert.ok(p[k] >= 0, `${what}.${k} is negative`);
  }
  assert.equal(p.samplesMs.length, 2, `${what}: one sample per repeat`);
  assert.ok(p.counted > 0, `${what}: nothing was on the page at the mark`);
}

test('lshlab bench ui --json at tiny sizes measures every page', { timeout: 180_000 }, (t) => {
  const exe = findChromium();
  if (!exe) {
    t.skip('no Chromium found (set LSHLAB_CHROMIUM or install /usr/bin/chromium): bench ui did not run');
    return;
  }
  assert.ok(fs.existsSync(path.join(REPO_ROOT, 'dist', 'renderer', 'index.html')), 'dist/renderer/index.html is missing: run npm run build:renderer');
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'lshlab.js'), 'bench', 'ui', '--runs', '200', '--points', '20000', '--live-s', '2', '--repeats', '2', '--chromium', exe, '--json'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 170_000,
  });
  assert.equal(r.status, 0, `bench ui exited with ${r.status}:\n${r.stderr}\n${r.stdout}`);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as UiBenchResult;

  assert.match(o.command, /^lshlab bench ui --runs 200 --points 20000/);
  assert.ok(o.machine.cores >= 1 && o.machine.cpu.length > 0 && o.machine.chromium.length > 0);
  assert.equal(o.machine.loadBefore.length, 3);
  assert.equal(o.lab.runs, 200);
  assert.equal(o.lab.dataDir, null);
  finite(o.lab.seedS, 'lab.seedS');

  checkPage(o.runsPage.warm, 'runsPage.warm');
  checkPage(o.runsPage.cold, 'runsPage.cold');
  assert.equal(o.runsPage.warm.counted, 50, 'the runs page shows a page of 50 rows');
  finite(o.runsPage.cold.scriptMedianMs, 'runsPage.cold.scriptMedianMs');
  finite(o.runsPage.cold.apiMedianMs, 'runsPage.cold.apiMedianMs');
  checkPage(o.compare.warm, 'compare.warm');
  checkPage(o.compare.cold, 'compare.cold');
  assert.equal(o.compare.runIds.length, 3);
  assert.equal(typeof o.runsPage.met, 'boolean');
  assert.equal(typeof o.compare.met, 'boolean');

  const l = o.live;
  assert.equal(l.seconds, 2);
  assert.equal(l.stepsPerS, 50);
  assert.equal(l.fps.perSecond.length, 2);
  for (const [k, v] of Object.entries({ median: l.fps.median, worst: l.fps.worstWindow, overall: l.fps.overall, gap: l.maxFrameGapMs, lt: l.longTasks.totalMs })) finite(v, `live.${k}`);
  assert.ok(l.fps.worstWindow > 0, 'no frame in some second');
  assert.ok(l.written.steps > 0 && l.written.points === l.written.steps * l.keysPerStep, `the writer wrote ${JSON.stringify(l.written)}`);
  assert.ok(l.uiUpdates >= 1, 'the live page never showed a new step');
  assert.deepEqual(o.pageErrors, []);
});
