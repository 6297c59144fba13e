/**
 * protocol.ts: the messages between the run host (which owns the database) and the training
 * process (which owns the engine). The training process never opens the database: everything it
 * learns reaches the store through these messages, so a crash in native code can lose at most what
 * the host has not flushed yet, and can never corrupt the database.
 */
import type { RunSpec } from './spec.js';

/** The attention counters of one step as the engine reports them (StepStats.attention). */
export interface AttentionCounts {
  dotProducts: number;
  pairs: number;
  density: number;
  collisions?: number;
  /** Seconds per attention stage, summed over layers (native/engine/attention/attention.h). */
  timeS?: { hash: number; scores: number; softmax: number; values: number; backward: number };
  layers?: Array<{ dotProducts: number; pairs: number; density: number; collisions?: number; headDensity?: number[] }>;
}

/** Host -> training process. */
export type HostMessage =
  | { type: 'start'; runId: number; uuid: string; spec: RunSpec; dataDir: string; runDir: string; threads?: number }
  | { type: 'cancel' };

export interface StepMessage {
  type: 'step';
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Wall seconds since the previous step finished (includes waiting for the batch). */
  stepS: number;
  /** Engine seconds of the step itself. */
  computeS: number;
  /** Its parts in seconds, when the engine reports them. */
  forwardS?: number;
  backwardS?: number;
  optimizerS?: number;
  /** CUDA: device seconds of the whole step (a CUDA graph step has only this, no parts). */
  deviceS?: number;
  tokens: number;
  samples: number;
  predictions: number;
  correct: number;
  attention?: AttentionCounts;
}

/** Training process -> host. */
export type WorkerMessage =
  | { type: 'status'; text: string }
  | {
      type: 'ready';
      totalSteps: number;
      startStep: number;
      numParameters: number;
      trainExamples: number;
      batchesPerEpoch: number;
      vocabSize: number;
      engine: Record<string, unknown>;
    }
  | StepMessage
  | { type: 'eval'; step: number; split: string; metrics: Record<string, number>; seconds: number }
  | { type: 'checkpoint'; step: number; path: string; bytes: number }
  | { type: 'diverged'; step: number; value: number; what: string }
  | { type: 'done'; step: number; seconds: number }
  | { type: 'cancelled'; step: number }
  | { type: 'error'; message: string; stack?: string };
