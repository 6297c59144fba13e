/**
 * `lshlab bench gemm --m M --n N --k K [--ta] [--tb] [--iters I] [--openblas] [--json]`: times the
 * engine's float GEMM on one shape (and OpenBLAS's sgemm on the same shape with --openblas).
 */
import { defineCommand } from '../command.js';
import { num } from '../format.js';

const dim = (what: string) =>
  ({ type: 'int', min: 1, max: 65536, required: true, metavar: what, description: `${what} dimension` }) as const;

export const benchGemmCommand = defineCommand({
  path: ['bench', 'gemm'],
  summary: 'time the float GEMM kernel on one shape',
  usage: 'bench gemm --m M --n N --k K [--ta] [--tb] [--iters I] [--openblas] [--json]',
  details: 'C (M,N) = op(A) (M,K) * op(B) (K,N); --ta / --tb transpose A / B (a Linear weight is B^T).',
  flags: {
    m: dim('M'),
    n: dim('N'),
    k: dim('K'),
    ta: { type: 'boolean', description: 'A is stored transposed (K,M)' },
    tb: { type: 'boolean', description: 'B is stored transposed (N,K)' },
    iters: { type: 'int', min: 0, max: 1 << 24, default: 0, metavar: 'I', description: 'repetitions; 0 = about one second' },
    openblas: { type: 'boolean', description: 'also time OpenBLAS cblas_sgemm if the machine has it' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  async run(flags, ctx) {
    const engine = ctx.engine();
    const r = await engine.benchGemm({
      m: flags.m,
      n: flags.n,
      k: flags.k,
      transA: flags.ta,
      transB: flags.tb,
      iters: flags.iters,
      openblas: flags.openblas,
    });
    const info = engine.info();
    const reproduce = [
      'lshlab bench gemm',
      `--m ${flags.m} --n ${flags.n} --k ${flags.k}`,
      flags.ta ? '--ta' : '',
      flags.tb ? '--tb' : '',
      flags.iters ? `--iters ${flags.iters}` : '',
      flags.openblas ? '--openblas' : '',
      `--threads ${r.threads}`,
    ]
      .filter(Boolean)
      .join(' ');
    if (flags.json) {
      ctx.out(
        JSON.stringify(
          {
            m: r.m,
            n: r.n,
            k: r.k,
            trans_a: flags.ta,
            trans_b: flags.tb,
            iters: r.iters,
            seconds_mean: r.secondsMean,
            gflops: r.gflops,
            kernel: r.kernel,
            threads: r.threads,
            max_abs_error: r.maxAbsError,
            openblas_available: r.openblasAvailable,
            openblas_gflops: r.openblasGflops,
            openblas_library: r.openblasLibrary,
            device: `cpu: ${info.cpu.model}`,
            reproduce,
          },
          null,
          2,
        ),
      );
      return 0;
    }
    const shape = `${r.m}x${r.n}x${r.k}` + (flags.ta ? ' A^T' : '') + (flags.tb ? ' B^T' : '');
    ctx.out(`gemm ${shape}: ${num(r.gflops)} GFLOP/s`);
    ctx.out(`  kernel       ${r.kernel}, ${r.threads} thread(s)`);
    ctx.out(`  mean time    ${num(r.secondsMean * 1e3)} ms over ${r.iters} iters`);
    ctx.out(`  max abs err  ${num(r.maxAbsError)} (vs reference loop)`);
    if (flags.openblas) {
      ctx.out(
        r.openblasAvailable
          ? `  openblas     ${num(r.openblasGflops)} GFLOP/s (${r.openblasLibrary})`
          : '  openblas     not available on this machine (libopenblas not found)',
      );
    }
    ctx.out(`  device       cpu: ${info.cpu.model}`);
    ctx.out(`  reproduce    ${reproduce}`);
    return 0;
  },
});
