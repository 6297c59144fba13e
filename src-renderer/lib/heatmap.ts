/**
 * heatmap.ts: the Attention explorer's numbers-to-colours and matrix helpers (pure functions, no
 * DOM): a perceptually ordered sequential scale (viridis stops) for weights, a diverging
 * blue-white-red scale for differences, and the per-row normalisation the explorer applies to
 * yoso's weights (they are kernel values / |X_i|, not distributions) before comparing.
 */

export type Rgb = [number, number, number];

/** Viridis at 0, .25, .5, .75, 1 (readable in light and dark themes, colour-blind safe). */
const VIRIDIS: Rgb[] = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
/** Diverging: blue (negative), near white (0), red (positive). */
const DIVERGING: Rgb[] = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]];

function ramp(stops: Rgb[], t: number): Rgb {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i]!, b = stops[i + 1]!;
  return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
}

/** Colour of v on [0, max] (sequential) or [-max, max] (diverging). */
export function colorOf(v: number, max: number, diverging: boolean): Rgb {
  if (!(max > 0)) return diverging ? DIVERGING[2]! : VIRIDIS[0]!;
  return diverging ? ramp(DIVERGING, 0.5 + v / (2 * max)) : ramp(VIRIDIS, v / max);
}

/** CSS linear-gradient of a scale, left = low. */
export function gradientCss(diverging: boolean): string {
  const stops = diverging ? DIVERGING : VIRIDIS;
  return `linear-gradient(to right, ${stops.map((c, i) => `rgb(${c.join(',')}) ${(100 * i) / (stops.length - 1)}%`).join(', ')})`;
}

/** Each row of an (n,n) matrix as |w| / sum |w| (rows summing to 0 stay 0). */
export function normalizeRows(m: readonly number[], n: number): number[] {
  const out = new Array<number>(m.length).fill(0);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.abs(m[i * n + j]!);
    if (s > 0) for (let j = 0; j < n; j++) out[i * n + j] = Math.abs(m[i * n + j]!) / s;
  }
  return out;
}

/** a - b elementwise. */
export function difference(a: readonly number[], b: readonly number[]): number[] {
  return a.map((x, i) => x - (b[i] ?? 0));
}

/** Largest |v| (0 for an empty matrix). */
export function maxAbs(m: readonly number[]): number {
  let x = 0;
  for (const v of m) if (Math.abs(v) > x) x = Math.abs(v);
  return x;
}

/** A compact number for tooltips and tables: 4 significant digits, exponent when tiny. */
export function fmtValue(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e4 ? v.toExponential(2) : v.toPrecision(4);
}
