/**
 * run-bests.ts: a run's best numbers as run lists show them (the API's runs.list, `lshlab runs
 * list`): the lowest training loss, the lowest evaluation loss and the highest value of the task's
 * headline evaluation metric, each with the first step that reached it. The store computes the
 * raw bests for many runs in one query (store/run-bests.ts); this picks the headline per task and
 * says how the list sorts them. Pure and Node-free (the API contract's types import it).
 */
import type { BestValue, RunBests, RunRow } from '../store/types.js';

/** The evaluation metric that says how good a run of a task is (higher is better). */
export const EVAL_SCORE_METRIC = { mlm: 'accuracy', classification: 'accuracy', qa: 'f1' } as const satisfies Record<RunRow['task'], string>;
export type EvalScoreMetric = (typeof EVAL_SCORE_METRIC)[RunRow['task']];

export interface RunBestMetrics {
  /** Lowest finite 'train/loss' and its step. */
  trainLoss: BestValue | null;
  /** The evaluation split the next two come from ('validation' when the run has it). */
  evalSplit: string | null;
  /** Lowest evaluation loss and its step. */
  evalLoss: BestValue | null;
  /** Highest accuracy (mlm, classification) or F1 (qa) of the evaluations, and its step. */
  evalScore: (BestValue & { metric: EvalScoreMetric }) | null;
}

export const NO_BESTS: RunBestMetrics = { trainLoss: null, evalSplit: null, evalLoss: null, evalScore: null };

/** The run's bests from the store's row for it (undefined: the run has recorded nothing). */
export function bestMetricsOf(run: Pick<RunRow, 'task'>, b: RunBests | undefined): RunBestMetrics {
  if (!b) return NO_BESTS;
  const metric = EVAL_SCORE_METRIC[run.task];
  const score = metric === 'f1' ? b.evalF1 : b.evalAccuracy;
  return { trainLoss: b.trainLoss, evalSplit: b.evalSplit, evalLoss: b.evalLoss, evalScore: score && { ...score, metric } };
}

/** Sort fields of the bests and whether lower is better (the list's first click puts the best first). */
export const BEST_SORT_FIELDS = { bestTrainLoss: 'lower', bestEvalLoss: 'lower', bestEvalScore: 'higher' } as const;
export type BestSortField = keyof typeof BEST_SORT_FIELDS;

/** The value a best-field sort uses, or null (a run without it: sorted last either way). */
export function bestSortValue(field: BestSortField, b: RunBestMetrics): number | null {
  switch (field) {
    case 'bestTrainLoss': return b.trainLoss?.value ?? null;
    case 'bestEvalLoss': return b.evalLoss?.value ?? null;
    case 'bestEvalScore': return b.evalScore?.value ?? null;
  }
}
