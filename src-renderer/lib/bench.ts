/**
 * bench.ts: reading `bench attention` results (snake_case JSON as the engine prints them) for the
 * Benchmarks page: the scaling sweep as one series per variant (time or memory against sequence
 * length) and Table 1 as metric rows across variants. Pure (no DOM), unit-tested.
 * The CUDA sweep (`bench attention --scaling --device cuda`, kind attention/scaling-cuda) prints
 * one line per (configuration, n) with fwd_ms and fwdbwd_ms; scalingRows reads it as the CPU
 * sweep's rows (one forward row, one forward+backward row), the configuration in the name;
 * cudaChecks reads its check of each configuration against the CPU variant (rel_err).
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
  if (!Array.isArray(rows)) return [];
  return (rows as Record<string, unknown>[]).flatMap((r) => ('fwd_ms' in r || 'n' in r ? cudaRows(r) : [r as unknown as ScalingRow]));
}

/** A CUDA sweep line's configuration as one name: "yoso tau=8 num_hash=32". */
function cudaConfigName(r: Record<string, unknown>): string {
  const params = r['params'] && typeof r['params'] === 'object'
    ? Object.entries(r['params'] as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`).join(' ') : '';
  return `${String(r['variant'] ?? '?')}${params ? ` ${params}` : ''}`;
}

/** A CUDA sweep line -> its forward and forward+backward rows (times in seconds, as the CPU's). */
function cudaRows(r: Record<string, unknown>): ScalingRow[] {
  const variant = cudaConfigName(r);
  const seq = Number(r['n']);
  const why = r['skipped'] ?? r['error'];
  const one = (backward: boolean, ms: unknown, bytes: unknown): ScalingRow => {
    if (why !== undefined || typeof ms !== 'number') return { variant, seq, backward, status: 'skipped', reason: String(why ?? 'not timed') };
    return { variant, seq, backward, status: 'ok', time_s_mean: ms / 1000, ...(typeof bytes === 'number' ? { peak_memory_bytes: bytes } : {}) };
  };
  return [one(false, r['fwd_ms'], r['peak_bytes_fwd']), one(true, r['fwdbwd_ms'], r['peak_bytes'])];
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

/** One configuration's check against its CPU variant in a CUDA sweep (at the sweep's smallest n). */
export interface CudaCheck {
  variant: string;
  seq: number;
  /** ||GPU - CPU|| / ||CPU|| of the attention output. */
  relErr: number;
  /** The same for the gradient of q, k, v (null when the driver did not report it). */
  relErrGrad: number | null;
}

/** The CUDA sweep's validation rows (rel_err present), one per configuration; [] for other results. */
export function cudaChecks(result: Record<string, unknown>): CudaCheck[] {
  const rows = result['rows'];
  if (!Array.isArray(rows)) return [];
  return (rows as Record<string, unknown>[])
    .filter((r) => typeof r['rel_err'] === 'number')
    .map((r) => ({
      variant: cudaConfigName(r), seq: Number(r['n']), relErr: r['rel_err'] as number,
      relErrGrad: typeof r['rel_err_dqkv'] === 'number' ? r['rel_err_dqkv'] : null,
    }));
}
