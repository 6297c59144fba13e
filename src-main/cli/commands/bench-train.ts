/**
 * `lshlab bench train --seq T --batch B [--steps N] [--warmup W] [--seed S] [--device D]
 * [--precision fp32|tf32|bf16] [--json]`: MLM training steps of BERT-tiny (vocab 30522) on random
 * tokens; reports tokens/s and GFLOP/s against a yardstick measured in the same run: the CPU's
 * FMA peak, or on CUDA cuBLASLt's square-GEMM peak on the same GPU per precision (the run's is
 * the fraction's denominator), with the device memory the steps held.
 */
import { defineCommand, withLab } from '../command.js';
import { recordBenchmark } from '../../lab/benchmarks.js';
import { num, Progress } from '../format.js';
import { packageVersion } from '../../engine/index.js';
import { CUDA_GRAPHS_FLAG, cudaGraphsFlag, DEVICE_FLAG, PRECISION_FLAG, precisionFlag, resolveDeviceFlag } from '../run-training.js';

export const benchTrainCommand = defineCommand({
  path: ['bench', 'train'],
  summary: 'time BERT-tiny MLM training steps on random tokens',
  usage: 'bench train --seq T --batch B [--steps N] [--warmup W] [--seed S] [--device auto|cpu|cuda[:N]] [--precision fp32|tf32|bf16] [--cuda-graphs on|off] [--json]',
  details: 'Model: BERT-tiny (hidden 128, 2 layers, 2 heads, FFN 512, vocab 30522), exact attention.',
  flags: {
    seq: { type: 'int', min: 1, max: 512, default: 128, metavar: 'T', description: 'sequence length' },
    batch: { type: 'int', min: 1, max: 65536, default: 32, metavar: 'B', description: 'batch size' },
    steps: { type: 'int', min: 1, max: 1000000, default: 10, metavar: 'N', description: 'timed steps' },
    warmup: { type: 'int', min: 0, max: 1000000, default: 2, metavar: 'W', description: 'untimed steps first' },
    seed: { type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER, default: 42, metavar: 'S', description: 'seed of weights and tokens' },
    device: DEVICE_FLAG,
    precision: PRECISION_FLAG,
    'cuda-graphs': CUDA_GRAPHS_FLAG,
    json: { type: 'boolean', description: 'print one JSON object' },
    record: { type: 'boolean', description: "keep the result in the lab database ('lshlab benchmarks list')" },
  },
  async run(flags, ctx) {
    const precision = precisionFlag(flags.precision, 'bench train');
    const graphs = cudaGraphsFlag(flags['cuda-graphs'], 'bench train');
    const placed = resolveDeviceFlag(ctx, flags.device, 'bench train', [], precision !== undefined ? { precision } : {});
    const engine = ctx.engine();
    const info = engine.info();
    const label =
      `bench train: BERT-tiny MLM, seq ${flags.seq}, batch ${flags.batch}, ` +
      `${flags.steps} steps + ${flags.warmup} warmup, ` +
      (placed.device === 'cpu' ? `${info.threads} thread(s)` : placed.device);
    const progress = new Progress(ctx.stderr, label);
    let r;
    try {
      r = await engine.benchTrain({
        seq: flags.seq,
        batch: flags.batch,
        steps: flags.steps,
        warmup: flags.warmup,
        seed: flags.seed,
        ...(placed.device.startsWith('cuda:') ? { cudaDevice: Number(placed.device.slice(5)) } : {}),
        ...(placed.precision !== 'fp32' ? { precision: placed.precision } : {}),
        ...(graphs === false ? { cudaGraphs: false } : {}),
      });
      progress.done();
    } catch (err) {
      progress.done('failed');
      throw err;
    }
    const reproduce =
      `lshlab bench train --seq ${flags.seq} --batch ${flags.batch} --steps ${flags.steps} ` +
      `--warmup ${flags.warmup} --seed ${flags.seed} ` +
      (placed.device === 'cpu' ? `--threads ${r.threads}` : `--device ${placed.device}`) +
      (placed.precision !== 'fp32' ? ` --precision ${placed.precision}` : '') +
      (graphs === false && placed.device !== 'cpu' ? ' --cuda-graphs off' : '');
    const device = `${placed.device}: ${placed.name}`;
    const onCuda = placed.device !== 'cpu';
    if (flags.record) {
      const config = {
        seq: flags.seq, batch: flags.batch, steps: flags.steps, warmup: flags.warmup, seed: flags.seed, reproduce,
        device: flags.device ?? 'auto', deviceInfo: { ...placed }, precision: placed.precision,
        ...(placed.device !== 'cpu' ? { cudaGraphs: graphs !== false } : {}),
      };
      const row = await withLab(ctx, (store) => recordBenchmark(store, { kind: 'train', config, result: { ...r } }, info));
      ctx.note(`bench train: recorded as benchmark ${row.id} (lshlab benchmarks list)`);
    }
    if (flags.json) {
      ctx.out(
        JSON.stringify(
          {
            model: 'bert-tiny',
            task: 'mlm',
            vocab_size: 30522,
            seq: flags.seq,
            batch: flags.batch,
            steps: r.steps,
            warmup: flags.warmup,
            seed: flags.seed,
            seconds: r.seconds,
            tokens_per_s: r.tokensPerS,
            flops_per_token: r.flopsPerToken,
            gflops: r.gflops,
            final_loss: r.finalLoss,
            // Means over eager steps; a CUDA graph step is timed only as a whole (device_step_ms).
            step_ms: { forward: r.forwardS * 1e3, backward: r.backwardS * 1e3, optimizer: r.optimizerS * 1e3 },
            cuda_graphs: onCuda ? (r.cudaGraphs ?? null) : null,
            cuda_graph_steps: onCuda ? (r.cudaGraphSteps ?? null) : null,
            device_step_ms: onCuda && r.deviceS !== undefined ? r.deviceS * 1e3 : null,
            threads: r.threads,
            device,
            device_why: placed.why,
            precision: r.precision ?? placed.precision,
            gemm_kernel: r.gemmKernel,
            // The yardstick of the run's precision: the CPU's FMA peak, or cuBLASLt's GEMM peak on the GPU.
            peak_gflops: r.peakGflops,
            peak_method: r.peakGflops > 0 ? (r.peakMethod ?? `${r.peakIsa} FMA loop, ${r.threads} thread(s), measured after the timed steps`) : null,
            fraction_of_peak: r.peakGflops > 0 ? r.gflops / r.peakGflops : null,
            // CUDA only (null on the CPU): the peaks per precision (bf16 measured only for a bf16 run,
            // else null), and the device memory the steps held.
            peak_by_precision: onCuda
              ? { fp32: r.peakFp32Gflops ?? null, tf32: r.peakTf32Gflops ?? null, bf16: r.peakBf16Gflops ? r.peakBf16Gflops : null }
              : null,
            peak_memory_bytes: onCuda && (r.peakMemoryBytes ?? -1) >= 0 ? r.peakMemoryBytes : null,
            peak_memory_method: onCuda ? 'cudaMemGetInfo used bytes after the timed steps minus before the model existed (device buffers only grow, so the high-water mark; cuBLASLt workspace included)' : null,
            lshlab: packageVersion(),
            engine: info.engineVersion,
            reproduce,
          },
          null,
          2,
        ),
      );
      return 0;
    }
    ctx.out(`tokens/s      ${num(r.tokensPerS, 4)}`);
    ctx.out(`GFLOP/s       ${num(r.gflops)}`);
    ctx.out(`FLOPs/token   ${num(r.flopsPerToken)}`);
    ctx.out(`seconds       ${num(r.seconds)} (${r.steps} timed steps)`);
    ctx.out(`final loss    ${num(r.finalLoss, 4)}`);
    const graphSteps = r.cudaGraphSteps ?? 0;
    if (graphSteps < r.steps)
      ctx.out(`per step      forward ${num(r.forwardS * 1e3)} ms, backward ${num(r.backwardS * 1e3)} ms, optimizer ${num(r.optimizerS * 1e3)} ms${graphSteps > 0 ? ' (eager steps)' : ''}`);
    if (onCuda && r.deviceS !== undefined)
      ctx.out(`device time   ${num(r.deviceS * 1e3)} ms per step; ${graphSteps} of ${r.steps} timed steps ran as a CUDA graph${r.cudaGraphs === false ? ' (--cuda-graphs off)' : ''}`);
    ctx.out(`threads       ${r.threads}`);
    ctx.out(`gemm kernel   ${r.gemmKernel}`);
    if (r.peakGflops > 0)
      ctx.out(`of peak       ${num((100 * r.gflops) / r.peakGflops)}% of ${num(r.peakGflops)} GFLOP/s (measured ${r.peakIsa}${onCuda ? ' GEMM' : ' FMA'} peak)`);
    if (onCuda) {
      const bf16 = r.peakBf16Gflops ? `, bf16 ${num(r.peakBf16Gflops)} GFLOP/s` : '';
      ctx.out(`GPU peaks     fp32 ${num(r.peakFp32Gflops ?? NaN)} GFLOP/s, tf32 ${num(r.peakTf32Gflops ?? NaN)} GFLOP/s${bf16} (cuBLASLt, same GPU)`);
      if ((r.peakMemoryBytes ?? -1) >= 0) ctx.out(`device memory ${num((r.peakMemoryBytes ?? 0) / 2 ** 20)} MiB held by the steps`);
    }
    ctx.out(`precision     ${r.precision ?? placed.precision}`);
    ctx.out(`device        ${device}`);
    ctx.out(`reproduce     ${reproduce}`);
    return 0;
  },
});
