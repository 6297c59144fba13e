/**
 * training-params.ts: the ranges of a run's numeric settings as the user may give them, written
 * once: `lshlab train`'s flags (cli/commands/train.ts) and the API contract's run-start schema
 * (api/contract.ts) both read this table. training/spec.ts validateSpec stays the final check of a
 * whole spec (cross-field rules: hiddenSize a multiple of heads, docStride below maxSeqLen, ...);
 * these are the per-field input bounds.
 *
 * Imports nothing (the renderer bundles it). It holds no defaults (training/spec.ts defaultSpec).
 */

export interface SettingRange {
  /** 'int': whole numbers only. */
  type: 'int' | 'number';
  min: number;
  max: number;
  /** What it is, for help text and form labels. */
  description: string;
}

const int = (min: number, max: number, description: string): SettingRange => ({ type: 'int', min, max, description });
const num = (min: number, max: number, description: string): SettingRange => ({ type: 'number', min, max, description });

/** Model shape (RunSpec.model). */
export const MODEL_RANGES = {
  hiddenSize: int(8, 4096, 'hidden size'),
  numHiddenLayers: int(1, 64, 'encoder layers'),
  numAttentionHeads: int(1, 64, 'attention heads'),
  intermediateSize: int(8, 16384, 'feed-forward size'),
  maxSeqLen: int(8, 512, 'sequence length'),
  hiddenDropoutProb: num(0, 0.99, 'hidden dropout'),
  attentionProbsDropoutProb: num(0, 0.99, 'attention dropout'),
  // Set from the source's config.json when fine-tuning (--init-from); rarely given by hand.
  maxPositionEmbeddings: int(8, 8192, 'position embeddings (default max(512, sequence length))'),
  layerNormEps: num(1e-15, 0.1, 'LayerNorm epsilon (default 1e-12)'),
} as const satisfies Record<string, SettingRange>;

/** Optimisation and cadence (top-level RunSpec fields). */
export const TRAIN_RANGES = {
  steps: int(1, 1 << 30, 'optimizer steps'),
  epochs: num(0.001, 1e6, 'passes over the training split (instead of steps)'),
  batchSize: int(1, 65536, 'batch size'),
  lr: num(1e-9, 0.99, 'peak learning rate'),
  warmupSteps: int(0, 1 << 30, 'linear warmup steps'),
  weightDecay: num(0, 1, 'AdamW weight decay'),
  maxGradNorm: num(0, 1e6, 'gradient clipping (0 = off)'),
  evalEvery: int(0, 1 << 30, 'evaluate every N steps (0: only at the end)'),
  evalBatches: int(0, 1 << 30, 'validation batches per evaluation (0 = all)'),
  saveEvery: int(0, 1 << 30, 'checkpoint every N steps (0: only at the end)'),
  docStride: int(1, 511, 'qa: tokens shared by consecutive windows'),
  mlmProb: num(0.01, 0.99, 'masked-LM masking probability'),
} as const satisfies Record<string, SettingRange>;

/** Run names, tags and notes (lab/runs.ts applies the same limits to edits). */
export const RUN_TEXT_LIMITS = { name: 128, tag: 64, notes: 100_000 } as const;
