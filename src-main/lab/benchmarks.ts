/**
 * benchmarks.ts: efficiency benchmarks kept in the lab's database, next to the runs: what was
 * measured (kind, the command's configuration), the result as the command printed it, and the
 * environment it ran on (CPU, threads, GEMM kernel, CUDA status, versions, git commit).
 * `bench attention --record`, `bench train --record` and the demo write them; `benchmarks list`
 * reads them. It measures nothing itself.
 */
import type { BenchmarkRow, LabStore } from '../store/types.js';
import type { EngineInfo } from '../engine/types.js';
import { describeEnvironment } from '../training/environment.js';

export function recordBenchmark(
  store: LabStore,
  b: { kind: string; config: Record<string, unknown>; result: Record<string, unknown>; runId?: number | null },
  info?: EngineInfo,
): BenchmarkRow {
  const environmentId = store.environments.record(describeEnvironment(info));
  return store.benchmarks.add({ runId: b.runId ?? null, kind: b.kind, config: b.config, result: b.result, environmentId });
}
