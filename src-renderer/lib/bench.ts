/**
 * bench.ts: reading `bench attention` results (snake_case JSON as the engine prints them) for the
 * Benchmarks page: the scaling sweep as one series per variant (time or memory against sequence
 * length) and Table 1 as metric rows across variants. Pure (no DOM), unit-tested.
 */
import type { XY } from './smoothing.js';

export interface ScalingRow {
  variant: string;
  seq: number;
  backward: boolean;
  status: string;
  time_s_mean?: number;
  peak_memory_bytes?: number;
  estimated_memory_bytes?: number;
  reason?: string;
}

/** The measured rows of a scaling result (skipped ones carry a reason and no time). */
export function scalingRows(result: Record<string, unknown>): ScalingRow[] {
  const rows = result['rows'];
  return Array.isArray(rows) ? (rows as ScalingRow[]) : [];
}

/** variant -> points (seq, field) of the rows with that backward flag that ran ("ok"). */
export function scalingSeries(rows: readonly ScalingRow[], field: 'time_s_mean' | 'peak_memory_bytes', backward: boolean): Map<string, XY[]> {
  const out = new Map<string, XY[]>();
  for (const r of rows) {
    if (r.backward !== backward || r.status !== 'ok') continue;
    const y = r[field];
    if (typeof y !== 'number' || !Number.isFinite(y) || y <= 0) continue;
    const pts = out.get(r.variant) ?? [];
    pts.push({ x: r.seq, y });
    out.set(r.variant, pts);
  }
  for (const pts of out.values()) pts.sort((a, b) => a.x - b.x);
  return out;
}

export const TABLE1_ROWS: { key: string; label: string; lowerIsBetter: boolean }[] = [
  { key: 'kflops_paper', label: "KFLOPs (the paper's way: hash matmul vs QKᵀ)", lowerIsBetter: true },
  { key: 'kflops_total', label: 'KFLOPs (all stages)', lowerIsBetter: true },
  { key: 'dot_products_mean', label: 'Dot products', lowerIsBetter: true },
  { key: 'collision_density', label: 'Density (computed / all pairs)', lowerIsBetter: true },
  { key: 'time_s_mean', label: 'Score stage time (s)', lowerIsBetter: true },
  { key: 'time_total_s_mean', label: 'Whole call time (s)', lowerIsBetter: true },
  { key: 'rel_error_vs_exact', label: 'Relative error vs exact', lowerIsBetter: true },
];

/** Table 1 result -> its variant columns (objects with a kflops_paper or time field). */
export function table1Columns(result: Record<string, unknown>): { name: string; values: Record<string, number | null> }[] {
  const cols: { name: string; values: Record<string, number | null> }[] = [];
  for (const [name, v] of Object.entries(result)) {
    if (!v || typeof v !== 'object' || Array.isArray(v) || !('time_s_mean' in v)) continue;
    const o = v as Record<string, unknown>;
    const values: Record<string, number | null> = {};
    for (const r of TABLE1_ROWS) values[r.key] = typeof o[r.key] === 'number' ? (o[r.key] as number) : null;
    cols.push({ name, values });
  }
  return cols;
}
