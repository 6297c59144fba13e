/**
 * loop.ts: the training loop of one run, inside the training process. It owns the order of
 * events: a step, its metrics message, an evaluation every `evalEvery` steps, a checkpoint every
 * `saveEvery` steps, and at the end (or on cancel) a last evaluation and checkpoint. It stops a run
 * whose loss or gradient norm is NaN or infinite (diverged, with the step and the value).
 *
 * Batches are a pure function of (seed, epoch, index) (see data/tasks/batcher.ts) and MLM masks of
 * (seed, global step), so a run resumed from the checkpoint of step s sees exactly the batches the
 * uninterrupted run would have seen from step s on. The next batch is assembled while the engine
 * runs the current step (the JS thread is idle then).
 * It talks to nobody directly: messages go out through `emit`, the host decides what to store.
 */
import type { Batch, NativeTrainer, StepStats } from '../engine/types.js';
import type { SpecialTokens } from '../data/types.js';
import { Batcher } from '../data/tasks/batcher.js';
import { mlmTransform } from '../data/tasks/mlm.js';
import type { AttentionCounts, WorkerMessage } from './protocol.js';
import { dataSeedOf, type RunSpec } from './spec.js';
import { evaluateSplit, type EvalSet } from './evaluate.js';
import { saveCheckpoint } from './checkpoints.js';

export interface TaskData {
  train: EvalSet;
  /** Evaluation split (validation if the dataset has one). */
  evaluation?: EvalSet;
  vocabSize: number;
  numLabels: number;
  special: SpecialTokens;
}

export interface LoopDeps {
  trainer: NativeTrainer;
  data: TaskData;
  spec: RunSpec;
  runDir: string;
  totalSteps: number;
  emit(m: WorkerMessage): void;
  isCancelled(): boolean;
}

export function makeTrainBatcher(spec: RunSpec, data: TaskData): Batcher {
  const seed = dataSeedOf(spec);
  const transform =
    spec.task === 'mlm' ? mlmTransform({ vocabSize: data.vocabSize, special: data.special, prob: spec.mlmProb, seed }) : undefined;
  return new Batcher(data.train.features, { batchSize: spec.batchSize, seed, shuffle: true, ...(transform ? { transform } : {}) });
}

/** Assembles batch `step` (0-based global index) in the event loop's next idle moment. */
function prepare(b: Batcher, step: number): Promise<{ batch: Batch; epoch: number }> {
  const per = b.batchesPerEpoch;
  const epoch = Math.floor(step / per);
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      try {
        resolve({ batch: b.batchAt(epoch, step % per), epoch });
      } catch (e) {
        reject(e);
      }
    }),
  );
}

function attentionOf(stats: StepStats): AttentionCounts | undefined {
  const a = (stats as StepStats & { attention?: AttentionCounts }).attention;
  return a && typeof a === 'object' ? a : undefined;
}

/** Runs from the trainer's current step to totalSteps. Resolves when the run ended. */
export async function trainingLoop(d: LoopDeps): Promise<void> {
  const { trainer, spec, data } = d;
  const batcher = makeTrainBatcher(spec, data);
  const evalOpts = {
    task: spec.task,
    batchSize: spec.batchSize,
    maxBatches: spec.evalBatches,
    vocabSize: data.vocabSize,
    special: data.special,
    mlmProb: spec.mlmProb,
    seed: dataSeedOf(spec),
    numLabels: data.numLabels,
  } as const;
  const evaluate = async (step: number): Promise<void> => {
    if (!data.evaluation) return;
    const t0 = performance.now();
    const metrics = await evaluateSplit(trainer, data.evaluation, evalOpts);
    d.emit({ type: 'eval', step, split: data.evaluation.split, metrics, seconds: (performance.now() - t0) / 1e3 });
  };
  const checkpoint = async (step: number): Promise<void> => {
    const c = await saveCheckpoint(trainer, d.runDir, step);
    d.emit({ type: 'checkpoint', step, path: c.path, bytes: c.bytes });
  };

  const t0 = performance.now();
  let step = trainer.stepCount;
  let lastSaved = -1;
  let lastEval = -1;
  let next = step < d.totalSteps ? prepare(batcher, step) : undefined;
  let last = performance.now();
  while (next) {
    if (d.isCancelled()) break;
    const { batch, epoch } = await next;
    const stats = await trainer.step(batch);
    step = stats.step;
    // Test hook: LSHLAB_FAULT_NAN_STEP=<step> reports that step's loss as NaN (the divergence path).
    if (Number(process.env['LSHLAB_FAULT_NAN_STEP']) === step) stats.loss = NaN;
    next = step < d.totalSteps ? prepare(batcher, step) : undefined; // overlaps with the messages below
    const now = performance.now();
    const msg: WorkerMessage = {
      type: 'step',
      step,
      totalSteps: d.totalSteps,
      epoch,
      loss: stats.loss,
      lr: stats.lr,
      gradNorm: stats.gradNorm,
      stepS: (now - last) / 1e3,
      computeS: stats.seconds,
      tokens: stats.tokens,
      samples: batch.batchSize,
      predictions: stats.predictions,
      correct: stats.correct,
    };
    if (stats.forwardS !== undefined) {
      msg.forwardS = stats.forwardS;
      msg.backwardS = stats.backwardS ?? 0;
      msg.optimizerS = stats.optimizerS ?? 0;
    }
    if (stats.deviceS !== undefined) msg.deviceS = stats.deviceS;
    const att = attentionOf(stats);
    if (att) msg.attention = att;
    d.emit(msg);
    last = now;
    for (const [what, v] of [['loss', stats.loss], ['gradient norm', stats.gradNorm]] as const) {
      if (!Number.isFinite(v)) {
        d.emit({ type: 'diverged', step, value: v, what });
        return;
      }
    }
    if (spec.evalEvery > 0 && step % spec.evalEvery === 0 && step < d.totalSteps) {
      await evaluate(step);
      lastEval = step;
    }
    if (spec.saveEvery > 0 && step % spec.saveEvery === 0 && step < d.totalSteps) {
      await checkpoint(step);
      lastSaved = step;
    }
  }
  void next?.catch(() => undefined); // a batch prepared for a step that will not run
  const cancelled = step < d.totalSteps;
  // A last evaluation and checkpoint, also on cancel, so the work done so far is kept and resumable.
  if (lastEval !== step && step > 0 && !cancelled) await evaluate(step);
  if (lastSaved !== step && step > 0) await checkpoint(step);
  if (cancelled) d.emit({ type: 'cancelled', step });
  else d.emit({ type: 'done', step, seconds: (performance.now() - t0) / 1e3 });
}
