/**
 * `lshlab bench ui`: the workbench's UI performance, measured in headless Chromium (playwright-core,
 * a dev dependency; Debian's /usr/bin/chromium or $LSHLAB_CHROMIUM or --chromium) against a real
 * `lshlab serve` child process. In a temp lab it seeds itself (bench-ui/seed-lab.ts: --runs runs,
 * three with --points train/loss points each), or in the lab given with --data-dir, it measures:
 *   1. the runs page: navigation -> first table rows painted (target 300 ms),
 *   2. a compare view of three runs -> its chart drawn with their curves (target 500 ms),
 *      both --repeats times in-app (hash change from the Datasets page) and as a full page load,
 *   3. a live run while a writer process appends 16 keys per step at --rate steps/s: frames per
 *      second over --live-s seconds (median and worst 1-second window; target >= 30) and long tasks.
 * Prints the figures with the machine (CPU, cores, load before and after) and the command that
 * reproduces them; --json prints one object instead. Probes: bench-ui/page-probes.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defineCommand } from '../command.js';
import { num } from '../format.js';
import { seedUiLab, pickCompareRuns } from '../bench-ui/seed-lab.js';
import { startServeChild } from '../bench-ui/serve-child.js';
import { startLiveWriter } from '../bench-ui/live-writer.js';
import { frameRates, markSinceNavigationStart, recordFrames, timeHashNavigation, type MarkTiming } from '../bench-ui/page-probes.js';
import { printUiBench, type LiveResult, type PageTimes, type UiBenchResult } from '../bench-ui/report.js';
import { openStore, storePath } from '../../store/index.js';
import { runDirOf } from '../../training/run-owner.js';

const TARGET = { runsMs: 300, compareMs: 500, liveFps: 30 };
const RUNS_MARK = 'lshlab:runs:first-rows';
const COMPARE_MARK = 'lshlab:compare:rendered';
const ROWS = 'section[aria-labelledby="runs-title"] tbody tr';
const CHARTS = 'section[aria-labelledby="compare-title"] canvas';
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The Chromium to drive: --chromium, else $LSHLAB_CHROMIUM, else Debian's; undefined if none exists. */
export function findChromium(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const candidates = flag ? [flag] : env['LSHLAB_CHROMIUM'] ? [env['LSHLAB_CHROMIUM']] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => fs.existsSync(p));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

/** Median and max of the painted-frame times (what the targets are about) and of the marks. */
function stats(ts: MarkTiming[]): PageTimes {
  const frames = ts.map((t) => t.frameMs);
  const out: PageTimes = { medianMs: round(median(frames)), maxMs: round(Math.max(...frames)), markMedianMs: round(median(ts.map((t) => t.markMs))), samplesMs: frames.map((f) => round(f)), counted: Math.min(...ts.map((t) => t.counted)) };
  if (ts.every((t) => t.scriptMs !== undefined)) {
    out.scriptMedianMs = round(median(ts.map((t) => t.scriptMs!)));
    out.apiMedianMs = round(median(ts.map((t) => t.apiMs!)));
  }
  return out;
}
const load = (): number[] => os.loadavg().map((x) => round(x, 2));

export const benchUiCommand = defineCommand({
  path: ['bench', 'ui'],
  summary: 'time the workbench in headless Chromium: runs page, compare view, a live run at 50 steps/s',
  usage: 'bench ui [--runs N] [--points P] [--repeats R] [--live-s S] [--rate K] [--compare A,B,C] [--chromium PATH] [--keep] [--json]',
  details: [
    'Seeds a temporary lab (10,000 runs; three with 1,000,000-point curves) unless --data-dir is given, starts',
    '`lshlab serve` on it and drives the page in headless Chromium. Targets: first rows of the runs page within',
    '300 ms, the compare chart within 500 ms, >= 30 frames/s on a live run at 50 steps/s. About 20 s on 2 cores.',
  ].join('\n'),
  flags: {
    runs: { type: 'int', min: 4, max: 1e6, default: 10000, metavar: 'N', description: 'runs to seed (default 10,000)' },
    points: { type: 'int', min: 100, max: 1e8, default: 1000000, metavar: 'P', description: 'train/loss points of each of the three compared runs' },
    repeats: { type: 'int', min: 1, max: 100, default: 5, metavar: 'R', description: 'navigations timed per page and kind (in-app, full load)' },
    'live-s': { type: 'int', min: 1, max: 600, default: 5, metavar: 'S', description: 'seconds of frame counting on the live run' },
    rate: { type: 'int', min: 1, max: 10000, default: 50, metavar: 'K', description: 'steps per second the live writer appends (16 keys each)' },
    compare: { type: 'string', metavar: 'A,B,C', description: 'with --data-dir: the runs to compare (default: the three longest train/loss series)' },
    chromium: { type: 'string', metavar: 'PATH', description: 'the Chromium binary (default $LSHLAB_CHROMIUM, else /usr/bin/chromium)' },
    keep: { type: 'boolean', description: 'keep the seeded temp lab and print where it is' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  async run(flags, ctx) {
    const exe = findChromium(flags.chromium, ctx.env);
    if (!exe) throw new Error('bench ui needs Chromium: install /usr/bin/chromium, or give --chromium PATH or LSHLAB_CHROMIUM');
    let playwright: typeof import('playwright-core');
    try {
      playwright = await import('playwright-core');
    } catch {
      throw new Error('bench ui needs playwright-core, a development dependency: run npm install in the lshlab folder');
    }
    const started = performance.now();
    const given = ctx.globals['data-dir'];
    const dataDir = given ? path.resolve(given) : fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-bench-ui-'));
    const sizes = given ? `--data-dir ${given}${flags.compare ? ` --compare ${flags.compare}` : ''}` : `--runs ${flags.runs} --points ${flags.points}`;
    const cmd = `lshlab bench ui ${sizes} --repeats ${flags.repeats} --live-s ${flags['live-s']} --rate ${flags.rate}`;
    const loadBefore = load();
    const note = (s: string): void => ctx.note(`bench ui: ${s}`);
    note(`${cmd}; ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} cores, load ${loadBefore.join(' ')}`);

    let liveRunId: number | null = null;
    try {
      let seeded = null;
      let compareIds: number[];
      if (given) {
        if (!fs.existsSync(storePath(dataDir))) throw new Error(`${dataDir} holds no lab (no lab.db): give the data directory of a lab, or leave --data-dir out to seed one`);
        compareIds = pickCompareRuns(dataDir, flags.compare ? flags.compare.split(',').filter(Boolean) : []);
        if (compareIds.length === 0) throw new Error(`no run in ${dataDir} has a train/loss series to compare`);
      } else {
        note(`seeding ${flags.runs} runs (three with ${flags.points} points) in ${dataDir}`);
        seeded = seedUiLab(dataDir, flags.runs, flags.points, note);
        compareIds = seeded.compareIds;
        note(`seeded ${seeded.runs} runs, ${seeded.points} points in ${num(seeded.seconds, 3)} s`);
      }
      const result = await measure(playwright, exe, dataDir, compareIds, flags, note, (id) => (liveRunId = id));
      const out: UiBenchResult = {
        command: cmd,
        machine: { cpu: os.cpus()[0]?.model ?? '?', cores: os.availableParallelism(), memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, chromium: result.chromium, loadBefore, loadAfter: load() },
        lab: { dataDir: given ? dataDir : null, runs: seeded?.runs ?? null, seededPoints: seeded?.points ?? null, seedS: seeded ? round(seeded.seconds, 2) : null },
        runsPage: result.runsPage,
        compare: result.compare,
        live: result.live,
        pageErrors: result.pageErrors,
        totalS: round((performance.now() - started) / 1000),
        reproduce: `npx ${cmd} --json`,
      };
      if (flags.json) ctx.stdout.write(JSON.stringify(out) + '\n');
      else printUiBench(ctx, out);
      return out.pageErrors.length ? 1 : 0;
    } finally {
      if (given && liveRunId !== null) removeRun(dataDir, liveRunId);
      if (!given && !flags.keep) fs.rmSync(dataDir, { recursive: true, force: true });
      else if (!given) note(`kept the lab at ${dataDir}`);
    }
  },
});

type Flags = { repeats: number; 'live-s': number; rate: number; runs: number; points: number };

async function measure(playwright: typeof import('playwright-core'), exe: string, dataDir: string, compareIds: number[], flags: Flags,
  note: (s: string) => void, onLiveRun: (id: number) => void): Promise<Pick<UiBenchResult, 'runsPage' | 'compare' | 'live' | 'pageErrors'> & { chromium: string }> {
  const serve = await startServeChild(dataDir);
  const browser = await playwright.chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  const pageErrors: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(serve.url); // sets the token cookie; later loads use the plain origin
    await page.waitForSelector('nav[aria-label="Main"]');
    const origin = new URL(serve.url).origin;
    const toDatasets = async (): Promise<void> => {
      await page.evaluate('location.hash = "#/datasets"');
      await page.waitForSelector('h1#datasets-title');
    };
    const timePage = async (hash: string, mark: string, count: string) => {
      const warm: MarkTiming[] = [];
      const cold: MarkTiming[] = [];
      for (let i = 0; i < flags.repeats; i++) {
        await toDatasets();
        warm.push(await timeHashNavigation(page, hash, mark, count));
        // A new document each time: goto() to a URL that differs only in its hash would not reload.
        await page.goto('about:blank');
        await page.goto(`${origin}/${hash}`);
        cold.push(await markSinceNavigationStart(page, mark, count));
      }
      return { warm: stats(warm), cold: stats(cold) };
    };

    note(`runs page, ${flags.repeats} x (in-app, full load)`);
    const runs = await timePage('#/runs', RUNS_MARK, ROWS);
    const runsPage = { targetMs: TARGET.runsMs, ...runs, met: runs.warm.medianMs <= TARGET.runsMs && runs.cold.medianMs <= TARGET.runsMs };
    note(`compare of runs ${compareIds.join(', ')}, ${flags.repeats} x (in-app, full load)`);
    const cmp = await timePage(`#/compare?ids=${compareIds.join(',')}`, COMPARE_MARK, CHARTS);
    const compare = { runIds: compareIds, targetMs: TARGET.compareMs, ...cmp, met: cmp.warm.medianMs <= TARGET.compareMs && cmp.cold.medianMs <= TARGET.compareMs };

    note(`live run at ${flags.rate} steps/s for ${flags['live-s']} s`);
    const writer = await startLiveWriter(dataDir, flags.rate);
    onLiveRun(writer.runId);
    let frames;
    let written;
    try {
      await page.evaluate(`location.hash = "#/runs/${writer.runId}"`);
      await page.waitForSelector('h1 .badge.status-running', { timeout: 20_000 });
      // Wait for the first live update, so the window measures a page that is being updated.
      const first = await page.textContent('.progress strong');
      for (let waited = 0; (await page.textContent('.progress strong')) === first; waited += 100) {
        if (waited > 10_000) throw new Error('the live run page showed no new step in 10 s');
        await page.waitForTimeout(100);
      }
      frames = await recordFrames(page, flags['live-s'], '.progress strong');
    } finally {
      written = await writer.stop();
    }
    const fr = frameRates(frames);
    const steps = frames.texts.map(Number).filter(Number.isFinite);
    const live: LiveResult = {
      runId: writer.runId, stepsPerS: flags.rate, keysPerStep: 16, seconds: flags['live-s'], targetFps: TARGET.liveFps,
      fps: { median: median(fr.perSecond), worstWindow: Math.min(...fr.perSecond), overall: round(fr.overall), perSecond: fr.perSecond },
      maxFrameGapMs: round(fr.maxGapMs),
      longTasks: { count: frames.longTasks.length, totalMs: round(frames.longTasks.reduce((a, b) => a + b, 0)), maxMs: round(Math.max(0, ...frames.longTasks)) },
      uiUpdates: frames.texts.length - 1,
      stepShown: { first: steps[0] ?? null, last: steps[steps.length - 1] ?? null },
      written,
      met: Math.min(...fr.perSecond) >= TARGET.liveFps,
    };
    return { chromium: browser.version(), runsPage, compare, live, pageErrors };
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- lshlab serve output ---\n${serve.log().slice(-3000)}`);
  } finally {
    await browser.close();
    await serve.stop();
  }
}

/** --data-dir: the live run is the bench's, not the user's; remove it and its directory. */
function removeRun(dataDir: string, id: number): void {
  const store = openStore(storePath(dataDir));
  try {
    const run = store.runs.get(id);
    if (run) {
      store.runs.remove(id);
      fs.rmSync(runDirOf(dataDir, run), { recursive: true, force: true });
    }
  } finally {
    store.close();
  }
}
