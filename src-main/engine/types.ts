/**
 * types.ts: the shapes that cross the native boundary (build/Release/lshlab.node). Field names are
 * camelCase here; the engine (and Hugging Face config.json) use the snake_case equivalents.
 */

export type Task = 'mlm' | 'classification' | 'qa';

/** BERT hyperparameters (Hugging Face BertConfig, camelCase). Defaults are BERT-tiny. */
export interface ModelConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  layerNormEps: number;
  initializerRange: number;
  numLabels: number;
  task: Task;
  /** Attention variant name, e.g. "exact". */
  attention: string;
  /** The variant's parameters by name (e.g. {bands: 2}); the engine validates them. */
  attentionParams: Record<string, string | number>;
}

/** Optimiser and schedule settings. */
export interface TrainConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  warmupSteps: number;
  totalSteps: number;
  /** Global-norm clipping; <= 0 disables. */
  maxGradNorm: number;
  /** The whole run is a function of it. A BigInt for values above 2^53 - 1. */
  seed: number | bigint;
  /** Run every step on this CUDA device (absent or -1: the CPU). Exact attention only. */
  cudaDevice?: number;
  /** GEMM precision (default fp32); tf32 and bf16 need cudaDevice (the engine refuses them on the CPU). */
  precision?: 'fp32' | 'tf32' | 'bf16';
  /** CUDA: replay the step as a CUDA graph where it can (default true; same results bit for bit). */
  cudaGraphs?: boolean;
}

/** One batch, row-major (batchSize, seqLen) Int32Arrays. The engine copies what it needs. */
export interface Batch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  tokenTypeIds?: Int32Array;
  /** 1 = token, 0 = padding. Absent: all ones. */
  attentionMask?: Int32Array;
  /** mlm: (B,T) with -100 for positions not predicted; classification: (B). */
  labels?: Int32Array;
  /** qa: (B) */
  startPositions?: Int32Array;
  /** qa: (B) */
  endPositions?: Int32Array;
}

/** Attention work or time by stage (FLOPs count a multiply-add as 2; times in seconds). */
export interface AttentionStages {
  hash: number;
  scores: number;
  softmax: number;
  values: number;
  /** 0 in evaluate (forward only). */
  backward: number;
}

/**
 * Attention counters of one layer, or summed over layers. Counted over UNPADDED tokens (see
 * native/engine/attention/attention.h for each variant's definitions):
 * - pairs: (query, key) pairs that exist, heads x sum over the batch of n_b^2.
 * - dotProducts: query-key dot products computed between unpadded tokens (exact, yoso-e: all
 *   pairs; bert-lsh: the colliding pairs it scores, i <= j under the default transposed fill;
 *   yoso: 0 in forward, + one per collision with backward=exact; reformer: window entries of
 *   the attended chunks, once per hashing round).
 * - density = dotProducts / pairs (can exceed 1 only for reformer with several rounds).
 * - collisions: LSH bucket matches (yoso: (query, key, hash function) triples with equal codes;
 *   bert-lsh: the colliding pairs it scores; 0 for exact, yoso-e, reformer).
 */
export interface AttentionCounterSet {
  dotProducts: number;
  pairs: number;
  density: number;
  collisions: number;
  flops: AttentionStages;
  timeS: AttentionStages;
}

/** One encoder layer's counters, with per-head arrays (length numAttentionHeads). */
export interface AttentionLayerStats extends AttentionCounterSet {
  /** headDotProducts[h] / headPairs[h] (0 where a head has no pairs). */
  headDensity: number[];
  headDotProducts: number[];
  headPairs: number[];
  headCollisions: number[];
}

/** Totals over layers plus each layer (index = layer). */
export interface AttentionStats extends AttentionCounterSet {
  layers: AttentionLayerStats[];
}

export interface StepStats {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  seconds: number;
  /** The step's parts (seconds): forward (with the loss), backward, optimizer (norm, clip,
   *  AdamW). On CUDA they come from device events; absent from engines built before them. */
  forwardS?: number;
  backwardS?: number;
  optimizerS?: number;
  /** CUDA: the step ran as a CUDA graph; it is timed only as a whole (deviceS), so the parts are absent. */
  cudaGraph?: boolean;
  /** CUDA: device time of the whole step in seconds (events around it); absent on the CPU. */
  deviceS?: number;
  tokens: number;
  predictions: number;
  correct: number;
  flops: number;
  /** Attention counters of this step (forward + backward), per layer and per head. */
  attention: AttentionStats;
}

export interface EvalResult {
  loss: number;
  predictions: number;
  correct: number;
  /** Attention counters of this forward pass, per layer and per head. */
  attention: AttentionStats;
  /** mlm (P,V) at labelled positions; classification (B,numLabels); qa (B,T,2). */
  logits?: Float32Array;
}

export interface CudaInfo {
  compiled: boolean;
  devices: Array<{ index: number; name: string; memoryBytes?: number; computeCapability?: string }>;
  message: string;
}

export interface EngineInfo {
  engineVersion: string;
  cpu: { model: string; logicalCores: number; avx2: boolean; fma: boolean; avx512f: boolean };
  threads: number;
  gemmKernel: string;
  cuda: CudaInfo;
  /** Attention variants this build implements (e.g. exact, bert-lsh, yoso-e, yoso, reformer). */
  attentionVariants: string[];
}

export interface GradCheckResult {
  name: string;
  maxRelError: number;
  tolerance: number;
  checked: number;
  /** Entries skipped at a hash-bucket step (hash-based attention variants only). */
  skipped: number;
  passed: boolean;
}

export interface GemmBenchOptions {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  /** 0 or absent: enough repetitions for about one second. */
  iters?: number;
  /** Also time OpenBLAS (loaded with dlopen) when the machine has it. */
  openblas?: boolean;
}

export interface GemmBenchResult {
  m: number;
  n: number;
  k: number;
  iters: number;
  secondsMean: number;
  gflops: number;
  kernel: string;
  threads: number;
  maxAbsError: number;
  openblasAvailable: boolean;
  openblasGflops: number;
  openblasLibrary: string;
}

export interface BenchTrainOptions {
  seq: number;
  batch: number;
  steps?: number;
  warmup?: number;
  seed?: number | bigint;
  model?: Partial<ModelConfig>;
  /** Run the steps on this CUDA device (exact attention); absent: the CPU. */
  cudaDevice?: number;
  /** GEMM precision of the steps (default fp32); tf32 and bf16 need cudaDevice. */
  precision?: 'fp32' | 'tf32' | 'bf16';
  /** CUDA: let steps run as CUDA graphs (default true); false times every step's parts. */
  cudaGraphs?: boolean;
}

export interface BenchTrainResult {
  steps: number;
  seconds: number;
  tokensPerS: number;
  flopsPerToken: number;
  gflops: number;
  finalLoss: number;
  threads: number;
  gemmKernel: string;
  /** Mean seconds per timed eager step in forward, backward and the optimiser (norm, clip, AdamW);
   *  CUDA graph steps are timed only as a whole (deviceS). */
  forwardS: number;
  backwardS: number;
  optimizerS: number;
  /** The yardstick, measured in the same process right after the run: the CPU's fp32 FMA peak (0 without vector FMA), or on CUDA cuBLASLt's GEMM peak at the run's precision. */
  peakGflops: number;
  peakIsa: string;
  /** Where the steps ran: "cpu" or "cuda:N" (absent from engines built before CUDA training). */
  device?: string;
  /** The steps' GEMM precision (absent from engines built before --precision). */
  precision?: string;
  /** How peakGflops was measured, in words (CPU: the FMA loop; CUDA: cuBLASLt's square GEMM). */
  peakMethod?: string;
  /** CUDA: cuBLASLt's measured square-GEMM peak on the same GPU per precision; 0 on the CPU. */
  peakFp32Gflops?: number;
  peakTf32Gflops?: number;
  /** CUDA: the bf16 GEMM peak, measured only when the run is bf16 (0 otherwise; absent from older engines). */
  peakBf16Gflops?: number;
  /** CUDA: device bytes the run held after the timed steps (cudaMemGetInfo, minus before); -1 on the CPU. */
  peakMemoryBytes?: number;
  /** CUDA: whether steps could run as CUDA graphs, how many timed steps did, and the mean device
   *  seconds of a timed step (0 on the CPU; absent from older engines). */
  cudaGraphs?: boolean;
  cudaGraphSteps?: number;
  deviceS?: number;
}

/** benchAttention options (native/addon/bench_attention.cc); absent fields take the CLI's defaults. */
export interface BenchAttentionOptions {
  mode?: 'single' | 'paper-table1' | 'sweep' | 'scaling' | 'collisions';
  variant?: string;
  /** Variant parameters by name, e.g. {bands: 2, table_size: 64}; the variant validates them. */
  params?: Record<string, string | number>;
  batch?: number;
  seq?: number;
  heads?: number;
  headDim?: number;
  backward?: boolean;
  iters?: number;
  warmup?: number;
  dotIters?: number;
  timeIters?: number;
  quality?: boolean;
  qualityCalls?: number;
  seed?: number | bigint;
  minSeq?: number;
  maxSeq?: number;
  variants?: string[];
  budgetS?: number;
  maxMemoryGb?: number;
  angles?: number;
  trials?: number;
  /** Progress lines of the long modes (sweep, scaling), called on the JS thread. */
  onProgress?: (line: string) => void;
}

/**
 * benchAttention result: the engine's JSON (snake_case keys, as `lshlab bench attention --json`
 * prints them; variant parameter names are kept verbatim). Shape depends on `mode`: see docs/cli.md.
 */
export type BenchAttentionResult = Record<string, unknown> & { mode: string };

export interface MlmMaskOptions {
  vocabSize: number;
  maskId: number;
  specialIds?: ArrayLike<number>;
  prob?: number;
  seed?: number | bigint;
  step?: number;
}

/** What Trainer.initFrom loaded (native/engine/io/init_from.h). Tensor names are HF state-dict names. */
export interface InitFromReport {
  dir: string;
  /** The source checkpoint's step (lshlab checkpoints); absent for a folder that does not record one. */
  sourceStep?: number;
  /** mlm, classification or qa: the source's head (from lshlab_task or `architectures`). */
  sourceTask: string;
  /** The source's attention variant (lshlab checkpoints); absent for a Hugging Face folder. */
  sourceAttention?: string;
  loaded: string[];
  /** Source tensors not used: its task head, a pooler the target lacks, variant parameters (source names). */
  ignored: string[];
  /** Target tensors left at their seed initialisation: the task head, a pooler the source lacks, variant parameters. */
  initialised: string[];
  /** One line each, for people. */
  notes: string[];
}

export interface NativeTrainer {
  step(batch: Batch): Promise<StepStats>;
  evaluate(batch: Batch, options?: { returnLogits?: boolean }): Promise<EvalResult>;
  save(dir: string): Promise<void>;
  load(dir: string): Promise<void>;
  /** Fine-tuning: the encoder weights of a checkpoint or Hugging Face BERT folder, before the first step. */
  initFrom(dir: string): Promise<InitFromReport>;
  readonly numParameters: number;
  readonly stepCount: number;
  readonly config: ModelConfig;
  readonly trainConfig: TrainConfig;
  /** True while step/evaluate/save/load/initFrom is in flight. */
  readonly busy: boolean;
}

export interface NativeTrainerConstructor {
  new (modelConfig?: Partial<ModelConfig>, trainConfig?: Partial<TrainConfig>): NativeTrainer;
}

/** Everything lshlab.node exports. */
export interface NativeAddon {
  info(): EngineInfo;
  /** 0 = all hardware threads. Returns the pool size now in force. Throws while engine work runs. */
  setThreads(n: number): number;
  runChecks(prefix?: string): Promise<GradCheckResult[]>;
  benchGemm(options: GemmBenchOptions): Promise<GemmBenchResult>;
  benchTrain(options: BenchTrainOptions): Promise<BenchTrainResult>;
  benchAttention(options: BenchAttentionOptions): Promise<BenchAttentionResult>;
  mlmMask(
    inputIds: Int32Array,
    labels: Int32Array,
    attentionMask: Int32Array | null,
    batchSize: number,
    seqLen: number,
    options: MlmMaskOptions,
  ): void;
  Trainer: NativeTrainerConstructor;
  /** An OS-level exclusive file lock (flock / LockFileEx), released by the kernel when this process dies. */
  FileLock: new (path: string) => NativeFileLock;
  /**
   * Per layer and head attention maps of a checkpoint directory for one input (at most 128
   * tokens, native kAttentionMapsMaxTokens), inference mode: the exact softmax matrix next to the
   * variant's effective one, replayed from the forward's own hash draws (native/engine/attention/maps.h).
   */
  attentionMaps(checkpointDir: string, input: AttentionMapsInput): Promise<AttentionMapsResult>;
}

export interface AttentionMapsInput {
  inputIds: Int32Array;
  /** 1 = token, 0 = padding; default all tokens. */
  attentionMask?: Int32Array;
  tokenTypeIds?: Int32Array;
  /** One layer, or every layer when absent / -1. */
  layer?: number;
  /** Philox seed and step of the hash draws; default 0, 0 (as Trainer.evaluate). */
  seed?: number;
  step?: number;
}

export interface AttentionHeadMaps {
  /** (T*T) row-major: dense softmax P (reformer: its full shared-QK attention). */
  exact: Float32Array;
  /** (T*T) effective weights W of the variant: W V equals its output (yoso: divided by |X_i|). */
  variant: Float32Array;
  /** (T*T) 1 = pair the variant scored / collided / attended. */
  computed: Uint8Array;
  /** |ctx - P V|_F / |P V|_F over unpadded rows. */
  outputRelError: number;
  /** Total-variation distance between rows of P and |W| normalised per row: mean and max. */
  meanTv: number;
  maxTv: number;
  /** max |W V - ctx| / max |ctx|: how well the replay reproduces the variant (expect < 1e-5). */
  replayError: number;
  /** Computed pairs / unpadded pairs, from the replay. */
  support: number;
  /** The variant's counters: dot products / unpadded pairs. */
  density: number;
  /** The variant's counters: LSH collisions / unpadded pairs (yoso: summed over hash functions). */
  collisions: number;
}

export interface AttentionMapsResult {
  variant: string;
  params: Record<string, string>;
  task: string;
  tokens: number;
  numLayers: number;
  numHeads: number;
  layers: { layer: number; heads: AttentionHeadMaps[] }[];
}

export interface NativeFileLock {
  /** Takes the lock if free (never blocks); true if this object now holds it. Creates the file. */
  tryLock(): boolean;
  unlock(): void;
  /** Releases the lock and the descriptor. */
  close(): void;
  readonly locked: boolean;
  readonly path: string;
}

/**
 * CUDA status fields of the run-time loaded backend (native/cuda, loaded by
 * native/engine/backend/cuda_loader.cc; merged into CudaInfo above). `reason` says why CUDA is
 * unavailable ("not built: ...", "failed to load ...", "no NVIDIA driver ...", "no CUDA device",
 * "compute capability ... below 8.0"); empty when available.
 */
export interface CudaInfo {
  available: boolean;
  reason: string;
  /** Where the engine looked for the backend library ('' when it was not built). */
  library: string;
  /** The library's own build description (nvcc version, architectures); '' when not loaded. */
  build: string;
}
