/**
 * series.ts: metric series as the charts draw them. The API sends long histories as buckets
 * (min, max and last value per step range, computed in SQL); a chart plots the last values as
 * the line and min/max as a faint envelope, so spikes stay visible however long the run. Live
 * step events are appended to the same plain arrays. Pure (no DOM), unit-tested.
 */
import type { SeriesBucket } from '../../src-main/store/types.js';
import type { XY } from './smoothing.js';

export interface BucketedPoints {
  line: XY[];
  min: XY[];
  max: XY[];
}

/** Buckets -> points at each bucket's last step (non-finite values dropped: a gap, not a spike to ∞). */
export function bucketsToPoints(buckets: readonly SeriesBucket[]): BucketedPoints {
  const line: XY[] = [];
  const min: XY[] = [];
  const max: XY[] = [];
  for (const b of buckets) {
    const x = b.lastStep;
    if (Number.isFinite(b.last)) line.push({ x, y: b.last });
    if (Number.isFinite(b.min)) min.push({ x, y: b.min });
    if (Number.isFinite(b.max)) max.push({ x, y: b.max });
  }
  return { line, min, max };
}

/** Appends a point keeping x strictly increasing (a replayed or resumed step replaces the last). */
export function appendPoint(points: XY[], x: number, y: number): XY[] {
  if (!Number.isFinite(y)) return points;
  const last = points[points.length - 1];
  if (last && x <= last.x) {
    const kept = points.filter((p) => p.x < x);
    kept.push({ x, y });
    return kept;
  }
  points.push({ x, y });
  return points;
}

/** Steps per second over the recent window of (time ms, step) samples; 0 when unknown. */
export function recentRate(samples: readonly { t: number; step: number }[]): number {
  if (samples.length < 2) return 0;
  const a = samples[0]!;
  const b = samples[samples.length - 1]!;
  const dt = (b.t - a.t) / 1000;
  return dt > 0 ? (b.step - a.step) / dt : 0;
}

/** Per-layer / per-head attention densities from summary keys 'attn/layer{i}/head{h}/density'. */
export function headDensities(summaries: readonly { key: string; last: number }[]): { layers: number; heads: number; grid: (number | null)[][]; layerMeans: (number | null)[] } {
  const cells = new Map<string, number>();
  const layerMean = new Map<number, number>();
  let layers = 0;
  let heads = 0;
  for (const s of summaries) {
    let m = /^attn\/layer(\d+)\/head(\d+)\/density$/.exec(s.key);
    if (m) {
      const l = Number(m[1]);
      const h = Number(m[2]);
      cells.set(`${l}:${h}`, s.last);
      layers = Math.max(layers, l + 1);
      heads = Math.max(heads, h + 1);
      continue;
    }
    m = /^attn\/layer(\d+)\/density$/.exec(s.key);
    if (m) {
      layerMean.set(Number(m[1]), s.last);
      layers = Math.max(layers, Number(m[1]) + 1);
    }
  }
  const grid = Array.from({ length: layers }, (_, l) => Array.from({ length: heads }, (_, h) => cells.get(`${l}:${h}`) ?? null));
  return { layers, heads, grid, layerMeans: Array.from({ length: layers }, (_, l) => layerMean.get(l) ?? null) };
}
