/**
 * smoothing.ts: curve smoothing for the charts. Pure (no DOM), unit-tested under Node.
 *
 * `emaSmooth` is TensorBoard's debiased exponential moving average (PR #639): the running average
 * starts at 0 and is divided by (1 − w^n), so the first points are not dragged towards zero and
 * the smoothed curve starts where the raw one does. Non-finite values (NaN from a diverged run)
 * are passed through unchanged and do not poison the average.
 */

/** weight in [0, 1): 0 = raw, 0.99 = very smooth. Returns a new array the length of `ys`. */
export function emaSmooth(ys: readonly number[], weight: number): number[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  const out = new Array<number>(ys.length);
  let acc = 0;
  let n = 0;
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i]!;
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    acc = acc * w + (1 - w) * v;
    n++;
    const debias = w === 0 ? 1 : 1 - Math.pow(w, n);
    out[i] = acc / debias;
  }
  return out;
}

/** Point {x, y} arrays in Chart.js's internal format (parsing: false). */
export interface XY {
  x: number;
  y: number;
}

/** Smooth the y of points, keeping x. */
export function emaSmoothPoints(points: readonly XY[], weight: number): XY[] {
  const ys = emaSmooth(points.map((p) => p.y), weight);
  return points.map((p, i) => ({ x: p.x, y: ys[i]! }));
}

/**
 * Throttle for live updates: returns a function that runs `fn` at most once per `intervalMs`,
 * always running the last call (trailing edge) so the final state is drawn.
 */
export function throttle(fn: () => void, intervalMs: number, now: () => number = Date.now): { (): void; cancel(): void } {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const run = () => {
    timer = null;
    last = now();
    fn();
  };
  const throttled = () => {
    if (timer !== null) return;
    const wait = last + intervalMs - now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
  throttled.cancel = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  return throttled;
}
