/**
 * environment.ts: what a run or benchmark ran on, recorded once per distinct environment: CPU,
 * cores, memory, OS, Node and lshlab versions, the engine's build (GEMM kernel, threads), the CUDA
 * status (GPU, driver message) and the git commit when lshlab runs from a checkout.
 * It never fails a run: a probe that cannot answer leaves its field out.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import type { EngineInfo } from '../engine/types.js';
import { packageRoot, packageVersion } from '../engine/index.js';

let commitCache: string | null | undefined;

/** HEAD of the checkout lshlab runs from (with "+dirty" if it has local changes), or null. */
export function gitCommit(): string | null {
  if (commitCache !== undefined) return commitCache;
  commitCache = null;
  try {
    const opts = { cwd: packageRoot(), encoding: 'utf8' as const, timeout: 2000 };
    const head = spawnSync('git', ['rev-parse', 'HEAD'], opts);
    if (head.status === 0) {
      const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], opts);
      commitCache = head.stdout.trim() + (dirty.status === 0 && dirty.stdout.trim() ? '+dirty' : '');
    }
  } catch {
    // no git: leave it null
  }
  return commitCache;
}

export function describeEnvironment(info?: EngineInfo): Record<string, unknown> {
  const cpus = os.cpus();
  const env: Record<string, unknown> = {
    cpu: cpus[0]?.model ?? 'unknown',
    logicalCores: cpus.length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    lshlab: packageVersion(),
    gitCommit: gitCommit(),
  };
  if (info) {
    env['engine'] = info.engineVersion;
    env['threads'] = info.threads;
    env['gemmKernel'] = info.gemmKernel;
    env['cpuFeatures'] = { avx2: info.cpu.avx2, fma: info.cpu.fma, avx512f: info.cpu.avx512f };
    env['cuda'] = info.cuda;
    env['gpu'] = info.cuda.devices.map((d) => d.name);
  }
  return env;
}
