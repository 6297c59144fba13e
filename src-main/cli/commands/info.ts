/**
 * `lshlab info [--json]`: versions (lshlab, node, engine), CPU, threads, GEMM kernel, devices (the
 * CPU and each CUDA device), CUDA status (compiled, available, and why not), data directory.
 */
import { defineCommand } from '../command.js';
import { packageVersion } from '../../engine/index.js';

export const infoCommand = defineCommand({
  path: ['info'],
  summary: 'versions, CPU features, threads, CUDA status',
  usage: 'info [--json]',
  flags: {
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  async run(flags, ctx) {
    const e = ctx.engine().info();
    const data = ctx.dataDir();
    const report = {
      lshlab: packageVersion(),
      node: process.versions.node,
      napi: process.versions.napi ?? null,
      engine: e.engineVersion,
      platform: `${process.platform}-${process.arch}`,
      cpu: {
        model: e.cpu.model,
        logical_cores: e.cpu.logicalCores,
        avx2: e.cpu.avx2,
        fma: e.cpu.fma,
        avx512f: e.cpu.avx512f,
      },
      threads: e.threads,
      gemm_kernel: e.gemmKernel,
      devices: [
        { kind: 'cpu', name: e.cpu.model, logical_cores: e.cpu.logicalCores },
        ...e.cuda.devices.map((d) => ({
          kind: 'cuda',
          index: d.index,
          name: d.name,
          memory_bytes: d.memoryBytes ?? null,
          compute_capability: d.computeCapability ?? null,
        })),
      ],
      cuda: {
        compiled: e.cuda.compiled,
        available: e.cuda.available,
        reason: e.cuda.reason,
        library: e.cuda.library,
        build: e.cuda.build,
        devices: e.cuda.devices,
        message: e.cuda.message,
      },
      attention_variants: e.attentionVariants,
      data_dir: data.dir,
      data_dir_source: data.source,
    };
    if (flags.json) {
      ctx.out(JSON.stringify(report, null, 2));
      return 0;
    }
    const yes = (b: boolean): string => (b ? 'yes' : 'no');
    const gib = (b?: number): string => (b === undefined ? '?' : `${(b / 2 ** 30).toFixed(1)} GiB`);
    const cuda =
      (e.cuda.available
        ? `available (${e.cuda.build})`
        : `${e.cuda.compiled ? 'compiled, unavailable' : 'not compiled in'}: ${e.cuda.reason}`) +
      e.cuda.devices
        .map((d) => `\n           [${d.index}] ${d.name}, ${gib(d.memoryBytes)}, compute capability ${d.computeCapability ?? '?'}`)
        .join('');
    const rows: Array<[string, string]> = [
      ['lshlab', report.lshlab],
      ['node', `${report.node} (Node-API ${report.napi ?? '?'})`],
      ['engine', report.engine],
      ['platform', report.platform],
      ['cpu', `${e.cpu.model} (${e.cpu.logicalCores} logical cores)`],
      ['features', `avx2 ${yes(e.cpu.avx2)}, fma ${yes(e.cpu.fma)}, avx512f ${yes(e.cpu.avx512f)}`],
      ['threads', String(e.threads)],
      ['gemm', e.gemmKernel],
      ['cuda', cuda],
      ['attention', e.attentionVariants.join(', ')],
      ['data dir', `${data.dir} (${data.source})`],
    ];
    for (const [k, v] of rows) ctx.out(`${k.padEnd(9)}  ${v}`);
    return 0;
  },
});
