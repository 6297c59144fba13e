/**
 * report.ts: what `lshlab bench ui` prints: the result object (also its --json output, one line)
 * and the same as text, one line per measurement with its target and whether it was met.
 */
import type { Context } from '../command.js';

/** Times of one page over the repeats, ms from navigation to the frame that paints the mark. */
export interface PageTimes {
  medianMs: number;
  maxMs: number;
  /** Median of the renderer mark itself (before that frame). */
  markMedianMs: number;
  samplesMs: number[];
  /** Fewest matching elements (rows, charts) seen at the mark over the repeats. */
  counted: number;
  /** Full loads: medians of the app's script done (DOMContentLoaded) and of its last API answer before the mark. */
  scriptMedianMs?: number;
  apiMedianMs?: number;
}

export interface PageResult {
  targetMs: number;
  /** In-app navigation: a hash change from the Datasets page. */
  warm: PageTimes;
  /** A full page load, from the navigation start. */
  cold: PageTimes;
  met: boolean;
}

export interface LiveResult {
  runId: number;
  stepsPerS: number;
  keysPerStep: number;
  seconds: number;
  targetFps: number;
  fps: { median: number; worstWindow: number; overall: number; perSecond: number[] };
  maxFrameGapMs: number;
  longTasks: { count: number; totalMs: number; maxMs: number };
  /** Changes of the step counter seen during the window (the page did update). */
  uiUpdates: number;
  stepShown: { first: number | null; last: number | null };
  written: { steps: number; points: number };
  met: boolean;
}

export interface UiBenchResult {
  command: string;
  machine: { cpu: string; cores: number; memGiB: number; node: string; chromium: string; loadBefore: number[]; loadAfter: number[] };
  /** dataDir: the lab given with --data-dir (null: a seeded temp lab, described by the rest). */
  lab: { dataDir: string | null; runs: number | null; seededPoints: number | null; seedS: number | null };
  runsPage: PageResult;
  compare: PageResult & { runIds: number[] };
  live: LiveResult;
  pageErrors: string[];
  totalS: number;
  reproduce: string;
}

export function printUiBench(ctx: Context, o: UiBenchResult): void {
  const { machine: m, lab, runsPage: r, compare: c, live: l } = o;
  const verdict = (met: boolean): string => (met ? 'met' : 'MISSED');
  const times = (s: PageTimes): string =>
    `median ${s.medianMs} ms, max ${s.maxMs} ms (mark ${s.markMedianMs} ms${s.scriptMedianMs !== undefined ? `; script done ${s.scriptMedianMs} ms, API answered ${s.apiMedianMs} ms` : ''})`;
  ctx.out(`command: ${o.command}`);
  ctx.out(`machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB; load ${m.loadBefore.join(' ')} before, ${m.loadAfter.join(' ')} after; node ${m.node}; Chromium ${m.chromium} (headless)`);
  ctx.out(lab.dataDir ? `lab: ${lab.dataDir}` : `lab: seeded ${lab.runs} runs, ${lab.seededPoints} points in ${lab.seedS} s (temp dir)`);
  ctx.out(`runs page -> first rows painted (${r.warm.counted} rows): in-app ${times(r.warm)}; full load ${times(r.cold)}; target ${r.targetMs} ms: ${verdict(r.met)}`);
  ctx.out(`compare of runs ${c.runIds.join(', ')} -> chart drawn: in-app ${times(c.warm)}; full load ${times(c.cold)}; target ${c.targetMs} ms: ${verdict(c.met)}`);
  ctx.out(
    `live run at ${l.stepsPerS} steps/s x ${l.keysPerStep} keys, ${l.seconds} s: ${l.fps.median} fps median, worst 1-s window ${l.fps.worstWindow} fps ` +
      `(overall ${l.fps.overall}), longest frame gap ${l.maxFrameGapMs} ms, ${l.longTasks.count} long tasks (total ${l.longTasks.totalMs} ms, max ${l.longTasks.maxMs} ms); ` +
      `step counter updated ${l.uiUpdates} times (${l.stepShown.first} -> ${l.stepShown.last}); target ${l.targetFps} fps: ${verdict(l.met)}`,
  );
  if (o.pageErrors.length) ctx.out(`page errors: ${o.pageErrors.join('; ')}`);
  ctx.out(`total ${o.totalS} s; reproduce: ${o.reproduce} (on an idle machine: the load average above is part of the result)`);
}
