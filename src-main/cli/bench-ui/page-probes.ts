/**
 * page-probes.ts: what `lshlab bench ui` measures inside the page (headless Chromium through
 * playwright-core). Times are taken by the page's own clock (performance.now()), never by the
 * driving process, so the DevTools round trips are not counted:
 *   - navigation -> renderer mark: the pages record `performance.mark('lshlab:runs:first-rows')`
 *     when the first table rows are in the DOM and 'lshlab:compare:rendered' after the compare
 *     chart's first draw with data. We take the mark's time and the next animation frame's (the
 *     frame that paints it). Warm: a hash change from another page; cold: a full page load, timed
 *     from the navigation start (performance.timeOrigin).
 *   - frames: requestAnimationFrame timestamps over a window, long tasks (PerformanceObserver
 *     'longtask') and the updates of one element's text, while the page does what it does.
 * The functions handed to page.evaluate run in the page: they only use page globals.
 */
import type { Page } from 'playwright-core';

/** The page globals the probes use (src-main compiles without the DOM library). */
interface PageGlobals {
  location: { hash: string };
  performance: {
    now(): number;
    clearMarks(name?: string): void;
    getEntriesByType(type: string): { name: string; startTime: number; responseEnd: number; domContentLoadedEventEnd: number }[];
  };
  PerformanceObserver: new (cb: (list: { getEntries(): { name: string; startTime: number; duration: number }[] }) => void) => {
    observe(o: { type: string; buffered?: boolean }): void;
    disconnect(): void;
  };
  MutationObserver: new (cb: () => void) => { observe(target: unknown, o: Record<string, boolean>): void; disconnect(): void };
  requestAnimationFrame(cb: (t: number) => void): number;
  document: { querySelector(sel: string): { textContent: string | null } | null; querySelectorAll(sel: string): { length: number } };
  setTimeout(cb: () => void, ms: number): number;
  clearTimeout(id: number): void;
}

export interface MarkTiming {
  /** ms from navigation to the mark. */
  markMs: number;
  /** ms from navigation to the animation frame after the mark (the one that paints it). */
  frameMs: number;
  /** How many elements matched `count` at the mark (e.g. table rows), as a check on the mark. */
  counted: number;
  /** Full loads: where the time went: the app's script run (DOMContentLoaded end) and the last API answer before the mark. */
  scriptMs?: number;
  apiMs?: number;
}

/** Sets location.hash to `hash` and times it to `mark` (the page must be on another route). */
export async function timeHashNavigation(page: Page, hash: string, mark: string, count: string, timeoutMs = 30_000): Promise<MarkTiming> {
  return page.evaluate(
    ({ hash, mark, count, timeoutMs }) => {
      const w = globalThis as unknown as PageGlobals;
      w.performance.clearMarks(mark);
      return new Promise<MarkTiming>((resolve, reject) => {
        const timer = w.setTimeout(() => reject(new Error(`no '${mark}' mark within ${timeoutMs} ms of location.hash = '${hash}'`)), timeoutMs);
        let t0 = 0;
        const obs = new w.PerformanceObserver((list) => {
          const m = list.getEntries().find((e) => e.name === mark);
          if (!m) return;
          obs.disconnect();
          const counted = w.document.querySelectorAll(count).length;
          w.requestAnimationFrame(() => {
            w.clearTimeout(timer);
            resolve({ markMs: m.startTime - t0, frameMs: w.performance.now() - t0, counted });
          });
        });
        obs.observe({ type: 'mark' });
        t0 = w.performance.now();
        w.location.hash = hash;
      });
    },
    { hash, mark, count, timeoutMs },
  );
}

/** After page.goto(): the mark's time from the navigation start, once it exists. */
export async function markSinceNavigationStart(page: Page, mark: string, count: string, timeoutMs = 30_000): Promise<MarkTiming> {
  return page.evaluate(
    ({ mark, count, timeoutMs }) => {
      const w = globalThis as unknown as PageGlobals;
      return new Promise<MarkTiming>((resolve, reject) => {
        const timer = w.setTimeout(() => reject(new Error(`no '${mark}' mark within ${timeoutMs} ms of loading the page`)), timeoutMs);
        const seen = (startTime: number): void => {
          const counted = w.document.querySelectorAll(count).length;
          const scriptMs = w.performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd ?? 0;
          const api = w.performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/') && e.responseEnd <= startTime);
          const apiMs = Math.max(0, ...api.map((e) => e.responseEnd));
          w.requestAnimationFrame(() => {
            w.clearTimeout(timer);
            resolve({ markMs: startTime, frameMs: w.performance.now(), counted, scriptMs, apiMs });
          });
        };
        const obs = new w.PerformanceObserver((list) => {
          const m = list.getEntries().find((e) => e.name === mark);
          if (m) {
            obs.disconnect();
            seen(m.startTime);
          }
        });
        // buffered: the mark may be older than this observer (recorded while the page loaded).
        obs.observe({ type: 'mark', buffered: true });
      });
    },
    { mark, count, timeoutMs },
  );
}

export interface FrameWindow {
  /** requestAnimationFrame timestamps, ms (page clock). */
  frames: number[];
  start: number;
  end: number;
  /** Durations of long tasks (> 50 ms on the main thread) in the window, ms. */
  longTasks: number[];
  /** The watched element's text each time it changed (e.g. the live run's step counter). */
  texts: string[];
}

/** Counts frames for `seconds` while the page runs; `watch` is an element whose text changes are recorded. */
export async function recordFrames(page: Page, seconds: number, watch: string): Promise<FrameWindow> {
  return page.evaluate(
    ({ seconds, watch }) => {
      const w = globalThis as unknown as PageGlobals;
      const frames: number[] = [];
      const longTasks: number[] = [];
      const el = w.document.querySelector(watch);
      const texts: string[] = [el?.textContent ?? ''];
      const lt = new w.PerformanceObserver((list) => {
        for (const e of list.getEntries()) longTasks.push(e.duration);
      });
      lt.observe({ type: 'longtask' });
      const mo = new w.MutationObserver(() => texts.push(el?.textContent ?? ''));
      if (el) mo.observe(el, { childList: true, characterData: true, subtree: true });
      const start = w.performance.now();
      return new Promise<FrameWindow>((resolve) => {
        const tick = (t: number): void => {
          frames.push(t);
          if (t - start < seconds * 1000) w.requestAnimationFrame(tick);
          else {
            lt.disconnect();
            mo.disconnect();
            resolve({ frames, start, end: t, longTasks, texts });
          }
        };
        w.requestAnimationFrame(tick);
      });
    },
    { seconds, watch },
  );
}

/** Frames per second in each whole 1-second window, and the longest gap between two frames. */
export function frameRates(w: FrameWindow): { perSecond: number[]; overall: number; maxGapMs: number } {
  const perSecond: number[] = [];
  const whole = Math.floor((w.end - w.start) / 1000);
  for (let s = 0; s < whole; s++) perSecond.push(w.frames.filter((t) => t >= w.start + s * 1000 && t < w.start + (s + 1) * 1000).length);
  let maxGapMs = 0;
  for (let i = 1; i < w.frames.length; i++) maxGapMs = Math.max(maxGapMs, w.frames[i]! - w.frames[i - 1]!);
  return { perSecond, overall: (w.frames.length - 1) / ((w.end - w.start) / 1000), maxGapMs };
}
