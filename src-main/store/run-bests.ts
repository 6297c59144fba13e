/**
 * run-bests.ts: the per-run numbers a run list shows and sorts on, for every run (or a page of
 * runs) in one query: the last and lowest 'train/loss' (metric_summary) and the lowest evaluation
 * loss, highest accuracy and highest F1 with their steps (evaluation_summary, schema 7). Both
 * summary tables are kept on write, so this never reads metric points or evaluation JSON: one
 * index probe per run and summary row: ~25 ms for all of 10,000 runs (half of it building the
 * rows in JS), well under a millisecond for a page.
 *
 * The evaluation split is 'validation' when the run has evaluations on it, else the first of its
 * splits by name (a run evaluates one split: validation when its dataset has one).
 * Which evaluation number is a task's headline (accuracy or F1) is not decided here (lab/runs.ts).
 */
import type Database from 'better-sqlite3';
import { decodeValue } from './codec.js';
import type { BestValue, LabStore, RunBests } from './types.js';

/** The training loss key, as the run host records it. */
export const TRAIN_LOSS_KEY = 'train/loss';

// b: one row per run with its train-loss summary and its evaluation split, MATERIALIZED so the
// split is chosen once per run (inlined, SQLite re-ran that subquery for each join below: twice
// the time at 10,000 runs); then one primary-key probe of evaluation_summary per evaluation
// metric. A page's ids come as one JSON array (json_each): one statement whatever its size.
const query = (where: string): string => `
  WITH b AS MATERIALIZED (
    SELECT r.id, ms.last, ms.last_flag, ms.min, ms.min_step,
           coalesce((SELECT 'validation' FROM evaluation_summary x WHERE x.run_id = r.id AND x.split = 'validation' LIMIT 1),
                    (SELECT min(x.split) FROM evaluation_summary x WHERE x.run_id = r.id)) AS split
      FROM runs r
      LEFT JOIN metric_summary ms ON ms.run_id = r.id AND ms.key_id = (SELECT id FROM metric_keys WHERE name = '${TRAIN_LOSS_KEY}')
     ${where})
  SELECT b.id, b.last, b.last_flag, b.min, b.min_step, b.split,
         el.min, el.min_step, ea.max, ea.max_step, ef.max, ef.max_step
    FROM b
    LEFT JOIN evaluation_summary el ON el.run_id = b.id AND el.split = b.split AND el.key = 'loss'
    LEFT JOIN evaluation_summary ea ON ea.run_id = b.id AND ea.split = b.split AND ea.key = 'accuracy'
    LEFT JOIN evaluation_summary ef ON ef.run_id = b.id AND ef.split = b.split AND ef.key = 'f1'`;

type BestsSql = [
  number, number | null, number | null, number | null, number | null, string | null,
  number | null, number | null, number | null, number | null, number | null, number | null,
];

const best = (value: number | null, step: number | null): BestValue | null => (value === null || step === null ? null : { value, step });

function toBests(r: BestsSql): RunBests {
  return {
    runId: r[0],
    // No 'train/loss' at all: null; a NaN last loss stays NaN (a diverged run).
    lastTrainLoss: r[2] === null ? null : decodeValue(r[1], r[2]),
    trainLoss: best(r[3], r[4]),
    evalSplit: r[5],
    evalLoss: best(r[6], r[7]),
    evalAccuracy: best(r[8], r[9]),
    evalF1: best(r[10], r[11]),
  };
}

export function runBestsApi(db: Database.Database): LabStore['runBests'] {
  const all = db.prepare(query('')).raw();
  const some = db.prepare(query('WHERE r.id IN (SELECT value FROM json_each(?))')).raw();
  const collect = (rows: BestsSql[]): Map<number, RunBests> => new Map(rows.map((r) => [r[0], toBests(r)]));
  return {
    all: () => collect(all.all() as BestsSql[]),
    of(ids: readonly number[]): Map<number, RunBests> {
      if (ids.length === 0) return new Map();
      for (const id of ids) if (!Number.isSafeInteger(id)) throw new TypeError(`run id must be an integer, got ${String(id)}`);
      return collect(some.all(JSON.stringify(ids)) as BestsSql[]);
    },
  };
}
