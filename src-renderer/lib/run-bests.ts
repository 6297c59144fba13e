/**
 * run-bests.ts: the Runs page's best-metric columns: which runs.list sort field each one is, which
 * direction its first click sorts (best first: losses ascending, accuracy/F1 descending), and how
 * a cell reads ("2.31" with "@ 400", the step that first reached it, and a tooltip that says
 * which split and metric). Pure (no DOM), unit-tested.
 */
import type { BestValue, RunBestMetrics } from '../../src-main/api/contract.js';
import { fmtNum } from './format.js';

export type BestField = 'bestTrainLoss' | 'bestEvalLoss' | 'bestEvalScore';

export interface BestColumn {
  field: BestField;
  label: string;
  /** The first click's direction: the best runs on top. */
  firstDir: 'asc' | 'desc';
}

export const BEST_COLUMNS: readonly BestColumn[] = [
  { field: 'bestTrainLoss', label: 'Best loss', firstDir: 'asc' },
  { field: 'bestEvalLoss', label: 'Best eval loss', firstDir: 'asc' },
  { field: 'bestEvalScore', label: 'Best acc / F1', firstDir: 'desc' },
];

export const isBestField = (f: string): f is BestField => BEST_COLUMNS.some((c) => c.field === f);

export interface BestCell {
  /** '—' when the run has no such value. */
  value: string;
  /** "@ 400", or '' without a value. */
  step: string;
  /** Says what the number is: metric, split, step. */
  title: string;
}

const NONE: BestCell = { value: '—', step: '', title: '' };
const SCORE_NAME = { accuracy: 'accuracy', f1: 'F1' } as const;

function cell(b: BestValue | null, what: string): BestCell {
  return b === null ? NONE : { value: fmtNum(b.value), step: `@ ${b.step}`, title: `${what}, first reached at step ${b.step}` };
}

/** How the run's value of a best column reads. */
export function bestCell(field: BestField, best: RunBestMetrics): BestCell {
  const split = best.evalSplit ? ` on '${best.evalSplit}'` : '';
  switch (field) {
    case 'bestTrainLoss':
      return cell(best.trainLoss, 'Lowest training loss');
    case 'bestEvalLoss':
      return cell(best.evalLoss, `Lowest evaluation loss${split}`);
    case 'bestEvalScore': {
      const s = best.evalScore;
      if (s === null) return NONE;
      const c = cell(s, `Highest evaluation ${SCORE_NAME[s.metric]}${split}`);
      return s.metric === 'f1' ? { ...c, value: `${c.value} F1` } : c;
    }
  }
}
