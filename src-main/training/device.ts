/**
 * device.ts: which device a run or benchmark uses, from what was asked (`--device auto|cpu|cuda[:N]`,
 * RunSpec.device), the engine's CUDA status (loadEngine().info().cuda) and the devices of the lab's
 * live runs. One resolver for `train`, `demo`, `bench train`, `bench attention` and the API.
 *
 * The Trainer runs a whole step on a CUDA device (native/engine/model/bert_cuda.h) for every
 * attention variant (exact, yoso, yoso-e, YOSO-C, bert-lsh, reformer); a variant without CUDA
 * kernels would stay on the CPU under `auto` and be refused by `cuda` with the reason
 * (cudaTrainingUnsupported). Among CUDA devices, a run takes one no live run of this lab uses
 * (pickCudaDevice).
 *
 * Node-free and engine-free (the caller passes the info), so it is unit-testable with fake devices.
 */

/** The attention variants with CUDA kernels (model/bert_cuda_attention.cc). */
export const CUDA_ATTENTION = ['exact', 'yoso', 'yoso-e', 'bert-lsh', 'reformer'] as const;

/**
 * Why a run with this attention variant cannot train on CUDA, or '' when it can. Mirrors the
 * engine's CudaAttentionLayer::unsupported by variant; the engine also refuses head sizes above
 * its kernels' (256 for exact, yoso and yoso-e; 128 for bert-lsh and reformer) and parameters its kernels cannot serve (e.g. bert-lsh num_hashes * bands * D > 2^18),
 * naming them, when the run starts.
 */
export function cudaTrainingUnsupported(attention: string | undefined): string {
  if (attention === undefined || (CUDA_ATTENTION as readonly string[]).includes(attention)) return '';
  return `attention '${attention}' has no CUDA kernels (${CUDA_ATTENTION.join(', ')} do)`;
}

/**
 * The precisions of the training step's GEMMs (`--precision`, RunSpec.precision): fp32 on every
 * device; on CUDA only, tf32 (cuBLASLt's TF32 tensor-core compute) or bf16 (autocast-style: the
 * GEMM operands rounded to bf16, fp32 accumulation and output). Everything outside the GEMMs
 * (LayerNorm, softmax, the attention kernels, the optimizer, master weights and moments) stays
 * fp32 in both; unlike PyTorch autocast, attention does not run in bf16.
 */
export const PRECISIONS = ['fp32', 'tf32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const PRECISION_HELP = 'fp32, tf32 or bf16 (tf32 and bf16: CUDA only)';

/** Why a precision request cannot be had on any device ('' when it is fp32, tf32 or bf16). */
export function precisionProblem(text: string): string {
  if ((PRECISIONS as readonly string[]).includes(text)) return '';
  return `unknown precision '${text}' (expected ${PRECISION_HELP})`;
}

/** What a device request may be: auto, cpu, cuda or cuda:N. */
export const DEVICE_REQUEST_RE = /^(auto|cpu|cuda(:\d{1,3})?)$/;
export const DEVICE_REQUEST_HELP = 'auto, cpu, cuda or cuda:N';

export interface DeviceRequest {
  kind: 'auto' | 'cpu' | 'cuda';
  /** cuda:N's N; absent for a plain `cuda` (any device). */
  index?: number;
}

/** The parsed request, or undefined when the text is not auto, cpu, cuda or cuda:N. */
export function parseDeviceRequest(text: string): DeviceRequest | undefined {
  const m = DEVICE_REQUEST_RE.exec(text.trim());
  if (!m) return undefined;
  const t = text.trim();
  if (t === 'auto' || t === 'cpu') return { kind: t };
  return m[2] ? { kind: 'cuda', index: Number(m[2].slice(1)) } : { kind: 'cuda' };
}

/** The subset of the engine's CudaInfo the resolver reads. */
export interface CudaStatus {
  compiled: boolean;
  available?: boolean;
  reason?: string;
  message?: string;
  devices: Array<{ index: number; name: string; memoryBytes?: number; computeCapability?: string }>;
}

export interface ResolvedDevice {
  /** What the run row's `device` column holds. */
  device: 'cpu' | `cuda:${number}`;
  /** The device's name (the CPU model, or the GPU's name). */
  name: string;
  /** One line: why this device (shown as "device: cpu (why)"). */
  why: string;
  /** Arithmetic precision of the training step's GEMMs on this device (fp32 unless --precision tf32|bf16). */
  precision: Precision;
}

/** A device request that cannot be met (the CLI maps it to exit 1, the API to an error). */
export class DeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceError';
  }
}

/** Why CUDA is unavailable, as one phrase ("no NVIDIA driver ..."), or '' when it is available. */
export function cudaUnavailableReason(cuda: CudaStatus | undefined): string {
  if (!cuda) return 'the engine could not be loaded';
  const available = cuda.available ?? (cuda.compiled && cuda.devices.length > 0);
  if (available && cuda.devices.length > 0) return '';
  return cuda.reason || cuda.message || (cuda.compiled ? 'no CUDA device' : 'not built with CUDA');
}

/**
 * The CUDA device a run should take among `devices`, given the devices of the lab's live runs
 * ('cpu', 'cuda:0', ...): a device no live run uses (the lowest index), else the one with the
 * fewest live runs. `index` restricts the choice to that device (undefined if it does not exist).
 */
export function pickCudaDevice(
  devices: ReadonlyArray<{ index: number; name: string }>,
  liveDevices: readonly string[],
  index?: number,
): { index: number; name: string; sharedWith: number } | undefined {
  const candidates = [...devices].filter((d) => index === undefined || d.index === index).sort((a, b) => a.index - b.index);
  let best: { index: number; name: string; sharedWith: number } | undefined;
  for (const d of candidates) {
    const sharedWith = liveDevices.filter((l) => l === `cuda:${d.index}`).length;
    if (!best || sharedWith < best.sharedWith) best = { index: d.index, name: d.name, sharedWith };
  }
  return best;
}

/**
 * The device for a request. Throws DeviceError for a request that cannot be met: `cuda` or
 * `cuda:N` when CUDA is unavailable (the loader's reason), when the device does not exist, or
 * when the attention variant has no CUDA kernels; and for a precision the device cannot run
 * (tf32 or bf16 wherever the run would land on the CPU, auto included: a run never silently
 * changes the precision it was asked for).
 */
export function resolveDevice(
  requestText: string | undefined,
  env: {
    cpuModel: string;
    cuda: CudaStatus | undefined;
    /** The run's attention variant: a variant without CUDA kernels stays on the CPU. */
    attention?: string;
    /** Why this job cannot use CUDA at all (a CPU-only benchmark), overriding `attention`. */
    cudaUnsupported?: string;
    /** The precision asked for (default fp32); tf32 and bf16 need the CUDA device this resolves to. */
    precision?: string;
  },
  liveDevices: readonly string[] = [],
): ResolvedDevice {
  const text = requestText ?? 'auto';
  const req = parseDeviceRequest(text);
  if (!req) throw new DeviceError(`unknown device '${text}' (expected ${DEVICE_REQUEST_HELP})`);
  const precision = env.precision ?? 'fp32';
  const problem = precisionProblem(precision);
  if (problem) throw new DeviceError(`--precision ${precision}: ${problem}`);
  // The CPU engine's GEMMs are fp32 only: a tf32/bf16 run there would record a precision it never used.
  const cpu = (why: string): ResolvedDevice => {
    if (precision !== 'fp32')
      throw new DeviceError(`--precision ${precision} needs a CUDA device, and this run would train on the CPU (${req.kind === 'cpu' ? '--device cpu' : why}); use --precision fp32`);
    return { device: 'cpu', name: env.cpuModel, why, precision: 'fp32' };
  };
  if (req.kind === 'cpu') return cpu('requested');
  const unavailable = cudaUnavailableReason(env.cuda);
  if (req.kind === 'cuda') {
    if (unavailable) throw new DeviceError(`CUDA unavailable: ${unavailable}`);
    const pick = pickCudaDevice(env.cuda!.devices, liveDevices, req.index);
    if (!pick) {
      const have = env.cuda!.devices.map((d) => `cuda:${d.index}`).join(', ');
      throw new DeviceError(`no CUDA device ${req.index} (this machine has ${have})`);
    }
    const unsupported = env.cudaUnsupported ?? cudaTrainingUnsupported(env.attention);
    if (unsupported) throw new DeviceError(`cannot run on CUDA: ${unsupported}; use --device cpu`);
    return cudaOf(pick, precision as Precision);
  }
  // auto
  if (unavailable) return cpu(`CUDA unavailable: ${unavailable}`);
  const unsupported = env.cudaUnsupported ?? cudaTrainingUnsupported(env.attention);
  if (unsupported) return cpu(unsupported);
  const pick = pickCudaDevice(env.cuda!.devices, liveDevices);
  return pick ? cudaOf(pick, precision as Precision) : cpu('no CUDA device');
}

function cudaOf(pick: { index: number; name: string; sharedWith: number }, precision: Precision): ResolvedDevice {
  const why =
    pick.sharedWith === 0
      ? 'no other live run of this lab uses it'
      : `every CUDA device is in use by this lab's live runs; this one by the fewest (${pick.sharedWith})`;
  return { device: `cuda:${pick.index}`, name: pick.name, why, precision };
}

/** The one-line report: "device: cpu (CUDA unavailable: no NVIDIA driver ...) on Intel Xeon ...". */
export function describeDevice(d: ResolvedDevice): string {
  return `device: ${d.device} (${d.why})${d.name ? ` on ${d.name}` : ''}`;
}

/** What a run row's trainConfig says about its device (recorded by the run host), if anything. */
export function deviceInfoOfRun(row: { trainConfig: Record<string, unknown> }): Partial<ResolvedDevice> | undefined {
  const d = row.trainConfig['deviceInfo'];
  return d && typeof d === 'object' ? (d as Partial<ResolvedDevice>) : undefined;
}

/**
 * The device choices a form offers (the New run page, from the API's engine.info): the requests
 * that can be met now, and why CUDA is not among them (null when it is).
 */
export function deviceChoices(cuda: CudaStatus | undefined): { options: string[]; cudaNote: string | null } {
  const unavailable = cudaUnavailableReason(cuda);
  if (unavailable) return { options: ['auto', 'cpu'], cudaNote: `CUDA unavailable: ${unavailable}` };
  return { options: ['auto', 'cpu', ...cuda!.devices.map((d) => `cuda:${d.index}`)], cudaNote: null };
}
