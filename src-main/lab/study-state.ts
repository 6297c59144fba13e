/**
 * study-state.ts: where each cell of a study stands, and the retry policy, from the study's cell
 * rows (store.studies.cells) alone. The runner, `study show`, `study list` and the report all read
 * cells through here, so they agree on what "done", "failed" and "blocked" mean:
 *   done     its run finished
 *   running  its run is running (a live host owns it: recoverDeadRuns runs first)
 *   pending  never started, or its run was interrupted (cancelled, or its hosting process died:
 *            the study process was killed); an interruption does not count as an attempt
 *   retry    its run crashed or failed on its own once: it is started once more
 *   failed   its run diverged (a seed that diverges diverges again), or it crashed / failed on
 *            MAX_ATTEMPTS counted starts
 *   blocked  it starts from an earlier stage of the same variant and seed that failed or is blocked
 * The same policy decides a claim (decideClaim runs inside the store's claim transaction).
 */
import type { StudyCellRow } from '../store/types.js';
import { ORPHAN_REASON } from '../training/run-owner.js';
import { cellId, studyCells, type StudyCell, type StudyDefinition } from './study-def.js';

/** Counted starts of a cell: the first and one retry. */
export const MAX_ATTEMPTS = 2;

export type CellState = 'done' | 'running' | 'pending' | 'retry' | 'failed' | 'blocked';

export interface CellStatus {
  cell: StudyCell;
  state: CellState;
  row: StudyCellRow | undefined;
  /** Why it failed or is blocked, or what happened to the last attempt (interrupted, crashed). */
  reason: string | null;
}

/** A run stopped from outside (cancelled, or its host died): redone without counting. */
export function interrupted(c: Pick<StudyCellRow, 'runStatus' | 'runError'>): boolean {
  return c.runStatus === 'cancelled' || (c.runStatus === 'crashed' && c.runError === ORPHAN_REASON);
}

/** The counted starts of a cell, not counting a last start that was interrupted. */
export function countedAttempts(c: StudyCellRow): number {
  return Math.max(0, c.attempts - (interrupted(c) ? 1 : 0));
}

/** The state of one cell from its row, without looking at other cells. */
function ownState(row: StudyCellRow | undefined): { state: CellState; reason: string | null } {
  if (!row) return { state: 'pending', reason: null };
  const s = row.runStatus;
  if (s === 'finished') return { state: 'done', reason: null };
  if (s === 'running' || s === 'queued') return { state: 'running', reason: null };
  if (s === 'diverged') return { state: 'failed', reason: `diverged: ${row.runError ?? ''}` };
  if (interrupted(row)) return { state: 'pending', reason: `interrupted (${s === 'cancelled' ? 'cancelled' : 'its process stopped'})` };
  const counted = countedAttempts(row);
  const why = s === null ? (row.attempts > 0 ? 'its run was removed, or its process stopped before recording it' : null) : `${s}: ${row.runError ?? ''}`;
  if (counted >= MAX_ATTEMPTS) return { state: 'failed', reason: `${why} (after ${counted} attempts)` };
  return { state: counted > 0 ? 'retry' : 'pending', reason: why };
}

/** Every cell of the grid in run order with its state. */
export function cellStatuses(def: StudyDefinition, rows: readonly StudyCellRow[]): CellStatus[] {
  const byId = new Map(rows.map((r) => [cellId(r), r]));
  const out: CellStatus[] = [];
  const stateOf = new Map<string, CellStatus>();
  for (const cell of studyCells(def)) {
    const row = byId.get(cellId(cell));
    let st = { ...ownState(row), cell, row };
    const stage = def.stages[cell.stage];
    if (stage?.init === 'previous' && st.state !== 'done' && st.state !== 'running') {
      const prev = stateOf.get(cellId({ ...cell, stage: cell.stage - 1 }));
      if (prev && (prev.state === 'failed' || prev.state === 'blocked'))
        st = { ...st, state: 'blocked', reason: `stage ${cell.stage} (${def.stages[cell.stage - 1]?.name}) of ${cell.variant} seed ${cell.seed} ${prev.state}` };
    }
    stateOf.set(cellId(cell), st);
    out.push(st);
  }
  return out;
}

export type ClaimResult =
  | { kind: 'start'; attempt: number }
  | { kind: 'done'; runId: number }
  | { kind: 'busy' }
  | { kind: 'failed'; reason: string };

/** The claim decision for a cell row (inside the store's IMMEDIATE transaction). */
export function decideClaim(row: StudyCellRow): { patch?: { attempts: number; runId: null }; result: ClaimResult } {
  const own = ownState(row);
  if (own.state === 'done') return { result: { kind: 'done', runId: row.runId as number } };
  if (own.state === 'running') return { result: { kind: 'busy' } };
  if (own.state === 'failed') return { result: { kind: 'failed', reason: own.reason ?? 'failed' } };
  // pending or retry: this start counts; the interrupted or crashed run stays in the lab, unlinked.
  const attempt = countedAttempts(row) + 1;
  return { patch: { attempts: attempt, runId: null }, result: { kind: 'start', attempt } };
}

export interface StudyTally {
  total: number;
  done: number;
  running: number;
  failed: number;
  blocked: number;
  /** pending + retry */
  todo: number;
}

export function tally(statuses: readonly CellStatus[]): StudyTally {
  const n = (s: CellState): number => statuses.filter((c) => c.state === s).length;
  return { total: statuses.length, done: n('done'), running: n('running'), failed: n('failed'), blocked: n('blocked'), todo: n('pending') + n('retry') };
}
