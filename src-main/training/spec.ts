/**
 * spec.ts: what a training run is asked to do (RunSpec), its defaults, its validation, and how it
 * maps onto the engine's ModelConfig and TrainConfig. A RunSpec is plain JSON: the host stores it
 * in the run row and sends it to the training process unchanged, so a run can be reproduced from
 * its row alone. Nothing here touches the engine, the store or the disk.
 */
import type { ModelConfig, Task, TrainConfig } from '../engine/types.js';
import { DEVICE_REQUEST_HELP, DEVICE_REQUEST_RE, precisionProblem, type Precision } from './device.js';

export interface ModelSpec {
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxSeqLen: number;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  /** Position-embedding rows (default max(512, maxSeqLen)); set from the source when fine-tuning. */
  maxPositionEmbeddings?: number;
  /** LayerNorm epsilon (default 1e-12, BERT's); set from the source when fine-tuning. */
  layerNormEps?: number;
}

export interface RunSpec {
  name?: string;
  task: Task;
  dataset: string;
  attention: string;
  attentionParams: Record<string, string | number>;
  model: ModelSpec;
  /** Optimiser steps; if absent, `epochs` passes over the training split. */
  steps?: number;
  epochs?: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Decimal string: the whole run is a function of it. */
  seed: string;
  /** Evaluate every N steps (0: only at the end). */
  evalEvery: number;
  /** At most this many validation batches per evaluation (0: the whole split). */
  evalBatches: number;
  /** Checkpoint every N steps (0: only at the end). */
  saveEvery: number;
  /** A checkpoint directory to resume from (weights, optimizer moments, step). */
  fromCheckpoint?: string;
  /**
   * Fine-tuning: an absolute directory (an lshlab checkpoint or a Hugging Face BERT folder with
   * config.json + model.safetensors) whose encoder weights initialise the model before step 0;
   * the task head, optimizer state and step count start fresh (training/init-from.ts). Ignored
   * when resuming (fromCheckpoint holds the fine-tuned weights already).
   */
  initFrom?: string;
  /** MLM masking probability. */
  mlmProb: number;
  /** QA window overlap in tokens. */
  docStride: number;
  /** auto (default), cpu, cuda or cuda:N: resolved by training/device.ts when the run starts. */
  device?: string;
  /** GEMM precision: fp32 (default), tf32 or bf16 (CUDA only; checked against the device when the run starts). */
  precision?: Precision;
  /** CUDA: replay steps as CUDA graphs where they can (default true; bit-identical results). */
  cudaGraphs?: boolean;
  tags?: string[];
  notes?: string;
}

/** BERT-tiny, sequence 128, and the paper's optimiser settings scaled to a small model. */
export const DEFAULT_MODEL: Readonly<ModelSpec> = Object.freeze({
  hiddenSize: 128,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 512,
  maxSeqLen: 128,
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
});

export function defaultSpec(over: Partial<RunSpec> & Pick<RunSpec, 'task' | 'dataset'>): RunSpec {
  return {
    attention: 'exact',
    attentionParams: {},
    batchSize: 32,
    lr: 1e-3,
    warmupSteps: 20,
    weightDecay: 0.01,
    maxGradNorm: 1.0,
    seed: '42',
    evalEvery: 0,
    evalBatches: 20,
    saveEvery: 0,
    mlmProb: 0.15,
    docStride: 32,
    ...over,
    model: { ...DEFAULT_MODEL, ...(over.model ?? {}) },
  };
}

/** Thrown for a spec the engine would reject later, naming the field. */
export class SpecError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'SpecError';
  }
}

// Not node:path: this module is bundled into the renderer (api/contract.ts), which has no Node.
const isAbsolutePath = (p: string): boolean => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
const posInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
const nonNegInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;

/** Checks what can be checked without the data (attention parameters are the engine's to check). */
export function validateSpec(s: RunSpec): RunSpec {
  if (!['mlm', 'classification', 'qa'].includes(s.task)) throw new SpecError('task', `unknown task '${s.task}'`);
  if (!s.dataset) throw new SpecError('dataset', 'is required');
  const m = s.model;
  for (const k of ['hiddenSize', 'numHiddenLayers', 'numAttentionHeads', 'intermediateSize', 'maxSeqLen'] as const)
    if (!posInt(m[k])) throw new SpecError(`model.${k}`, `must be a positive integer, got ${m[k]}`);
  if (m.hiddenSize % m.numAttentionHeads !== 0)
    throw new SpecError('model.hiddenSize', `${m.hiddenSize} is not a multiple of numAttentionHeads ${m.numAttentionHeads}`);
  if (m.maxSeqLen > 512) throw new SpecError('model.maxSeqLen', `at most 512 (position embeddings), got ${m.maxSeqLen}`);
  if (m.maxSeqLen < 8) throw new SpecError('model.maxSeqLen', `at least 8, got ${m.maxSeqLen}`);
  if (m.maxPositionEmbeddings !== undefined && (!posInt(m.maxPositionEmbeddings) || m.maxPositionEmbeddings < m.maxSeqLen))
    throw new SpecError('model.maxPositionEmbeddings', `must be an integer >= maxSeqLen ${m.maxSeqLen}, got ${m.maxPositionEmbeddings}`);
  if (m.layerNormEps !== undefined && !(m.layerNormEps > 0 && m.layerNormEps < 1))
    throw new SpecError('model.layerNormEps', `must be in (0, 1), got ${m.layerNormEps}`);
  for (const k of ['hiddenDropoutProb', 'attentionProbsDropoutProb'] as const)
    if (!(m[k] >= 0 && m[k] < 1)) throw new SpecError(`model.${k}`, `must be in [0, 1), got ${m[k]}`);
  if (s.steps === undefined && s.epochs === undefined) throw new SpecError('steps', 'give steps or epochs');
  if (s.steps !== undefined && !posInt(s.steps)) throw new SpecError('steps', `must be a positive integer, got ${s.steps}`);
  if (s.epochs !== undefined && !(s.epochs > 0)) throw new SpecError('epochs', `must be positive, got ${s.epochs}`);
  if (!posInt(s.batchSize)) throw new SpecError('batchSize', `must be a positive integer, got ${s.batchSize}`);
  if (!(s.lr > 0 && s.lr < 1)) throw new SpecError('lr', `must be in (0, 1), got ${s.lr}`);
  if (!nonNegInt(s.warmupSteps)) throw new SpecError('warmupSteps', `must be a non-negative integer, got ${s.warmupSteps}`);
  if (!(s.weightDecay >= 0)) throw new SpecError('weightDecay', `must be >= 0, got ${s.weightDecay}`);
  if (!/^\d{1,20}$/.test(s.seed) || BigInt(s.seed) >= 1n << 64n) throw new SpecError('seed', `must be an integer in [0, 2^64), got '${s.seed}'`);
  for (const k of ['evalEvery', 'evalBatches', 'saveEvery'] as const)
    if (!nonNegInt(s[k])) throw new SpecError(k, `must be a non-negative integer, got ${s[k]}`);
  if (!(s.mlmProb > 0 && s.mlmProb < 1)) throw new SpecError('mlmProb', `must be in (0, 1), got ${s.mlmProb}`);
  if (s.initFrom !== undefined && (typeof s.initFrom !== 'string' || !isAbsolutePath(s.initFrom)))
    throw new SpecError('initFrom', `must be an absolute directory (a checkpoint or a Hugging Face BERT folder), got ${JSON.stringify(s.initFrom)}`);
  if (s.device !== undefined && (typeof s.device !== 'string' || !DEVICE_REQUEST_RE.test(s.device)))
    throw new SpecError('device', `must be ${DEVICE_REQUEST_HELP}, got ${JSON.stringify(s.device)}`);
  if (s.precision !== undefined) {
    const problem = typeof s.precision === 'string' ? precisionProblem(s.precision) : `must be a string, got ${JSON.stringify(s.precision)}`;
    if (problem) throw new SpecError('precision', problem);
  }
  if (s.cudaGraphs !== undefined && typeof s.cudaGraphs !== 'boolean')
    throw new SpecError('cudaGraphs', `must be true or false, got ${JSON.stringify(s.cudaGraphs)}`);
  if (s.task === 'qa' && (!posInt(s.docStride) || s.docStride >= m.maxSeqLen))
    throw new SpecError('docStride', `must be a positive integer below maxSeqLen, got ${s.docStride}`);
  return s;
}

/** The engine's model config for this spec, given what the data decides (vocabulary, labels). */
export function modelConfigOf(s: RunSpec, data: { vocabSize: number; numLabels: number }): ModelConfig {
  const m = s.model;
  return {
    vocabSize: data.vocabSize,
    hiddenSize: m.hiddenSize,
    numHiddenLayers: m.numHiddenLayers,
    numAttentionHeads: m.numAttentionHeads,
    intermediateSize: m.intermediateSize,
    maxPositionEmbeddings: m.maxPositionEmbeddings ?? Math.max(512, m.maxSeqLen),
    typeVocabSize: 2,
    hiddenDropoutProb: m.hiddenDropoutProb,
    attentionProbsDropoutProb: m.attentionProbsDropoutProb,
    layerNormEps: m.layerNormEps ?? 1e-12,
    initializerRange: 0.02,
    numLabels: s.task === 'qa' ? 2 : Math.max(2, data.numLabels),
    task: s.task,
    attention: s.attention,
    attentionParams: s.attentionParams,
  };
}

export function trainConfigOf(s: RunSpec, totalSteps: number): TrainConfig {
  return {
    lr: s.lr,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-6,
    weightDecay: s.weightDecay,
    warmupSteps: Math.min(s.warmupSteps, totalSteps),
    totalSteps,
    maxGradNorm: s.maxGradNorm,
    seed: BigInt(s.seed) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s.seed) : BigInt(s.seed),
    // 'cuda:N' (as the host resolved it) trains on that GPU; anything else on the CPU.
    ...(s.device?.startsWith('cuda:') ? { cudaDevice: Number(s.device.slice(5)) } : {}),
    // Only a non-default precision is sent, so fp32 runs give the engine what they always did.
    ...(s.precision !== undefined && s.precision !== 'fp32' ? { precision: s.precision } : {}),
    ...(s.cudaGraphs === false ? { cudaGraphs: false } : {}),
  };
}

/** Optimiser steps of the run: `steps`, else ceil(epochs * batches per epoch). */
export function totalStepsOf(s: RunSpec, batchesPerEpoch: number): number {
  if (s.steps !== undefined) return s.steps;
  return Math.max(1, Math.ceil((s.epochs ?? 1) * batchesPerEpoch));
}

/** 32-bit seed for data order and masking streams, derived from the run seed. */
export function dataSeedOf(s: RunSpec): number {
  return Number(BigInt.asUintN(32, BigInt(s.seed) ^ (BigInt(s.seed) >> 32n)));
}
