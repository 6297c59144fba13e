/**
 * charts.ts: the Chart.js setup every chart shares. Registers only what the pages use (line
 * charts on linear/log axes, legend, tooltip, fill for envelopes, decimation), and builds options
 * tuned for long series (Chart.js performance guide): data already in the internal {x, y} format
 * (`parsing: false`, `normalized: true`: sorted unique x), no animation, min-max decimation,
 * fixed tick rotation. Colours come from the page's CSS variables so both themes read well.
 */
import {
  Chart,
  Decimation,
  Filler,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
  Tooltip,
  type ChartDataset,
  type ChartOptions,
} from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip, Filler, Decimation);

export { Chart };
export type LineDataset = ChartDataset<'line', { x: number; y: number }[]>;

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export interface AxisSpec {
  label: string;
  log?: boolean;
  min?: number;
  max?: number;
  /** Tick label formatter. */
  ticks?: (v: number) => string;
}

export function lineOptions(x: AxisSpec, y: AxisSpec, legend = true): ChartOptions<'line'> {
  const text = cssVar('--muted', '#666');
  const grid = cssVar('--grid', 'rgba(0,0,0,0.1)');
  const axis = (a: AxisSpec) => ({
    type: (a.log ? 'logarithmic' : 'linear') as 'linear',
    min: a.min,
    max: a.max,
    title: { display: true, text: a.label, color: text },
    grid: { color: grid },
    ticks: { color: text, maxRotation: 0, autoSkipPadding: 12, ...(a.ticks ? { callback: (v: number | string) => a.ticks!(Number(v)) } : {}) },
  });
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    parsing: false,
    normalized: true,
    spanGaps: true,
    indexAxis: 'x',
    interaction: { mode: 'nearest', axis: 'x', intersect: false },
    elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 1.6, tension: 0 } },
    scales: { x: axis(x), y: axis(y) },
    plugins: {
      legend: { display: legend, labels: { color: text, boxWidth: 12, filter: (item) => !String(item.text ?? '').startsWith('_') } },
      tooltip: { filter: (item) => !String(item.dataset.label ?? '').startsWith('_') },
      decimation: { enabled: true, algorithm: 'min-max' },
    },
  };
}

/** A colour with alpha, from '#rrggbb' or 'hsl(...)' / 'rgb(...)' (for faint raw curves and bands). */
export function withAlpha(color: string, alpha: number): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(color);
  if (hex) {
    const n = parseInt(hex[1]!, 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  const fn = /^(rgb|hsl)a?\(([^)]*)\)$/i.exec(color.trim());
  if (fn) {
    const parts = fn[2]!.split(/[\s,/]+/).filter(Boolean).slice(0, 3);
    return `${fn[1]!.toLowerCase()}a(${parts.join(', ')}, ${alpha})`;
  }
  return color;
}

/** Fallback palette when a run row has no colour (the store normally picks one). */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

/** Points for a line: sorted by x, duplicate x dropped (normalized: true requires unique sorted x). */
export function normalizePoints(points: readonly { x: number; y: number }[]): { x: number; y: number }[] {
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const out: { x: number; y: number }[] = [];
  for (const p of sorted) {
    if (out.length && out[out.length - 1]!.x === p.x) out[out.length - 1] = p;
    else out.push(p);
  }
  return out;
}
