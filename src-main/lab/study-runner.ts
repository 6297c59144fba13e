/**
 * study-runner.ts: runs a study's grid to its end through one RunHost, up to `parallel` cells at
 * once, resumable and safe to run from several processes at once.
 *
 * How a cell is started (startCell): take the cell's OS lock (studies/<id>/<cell>.lock beside the
 * runs; held until the cell's run has its final status, dropped by the kernel if this process
 * dies), then claim it in the store's IMMEDIATE transaction (study-state.ts decideClaim: done,
 * failed or running cells are skipped; a start is counted), then start the run and link it to the
 * cell. The lock closes the gap between the claim and the run row (another process cannot claim a
 * cell whose lock it cannot take); the transaction keeps the attempt count exact.
 *
 * Order: cells in run order (stage, variant, seed); a cell whose stage starts from the previous
 * one waits until that cell (same variant and seed) is done and takes its latest checkpoint as
 * initFrom. Killing the process and running again continues: finished cells are kept, the runs
 * the kill interrupted are redone (not counted as attempts), a run that crashed on its own is
 * retried once. It prints nothing: events go to the shell (cli/commands/study-run.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadEngine, type NativeFileLock } from '../engine/index.js';
import type { LabStore, RunRow, StudyRow } from '../store/types.js';
import type { RunHandle, RunHost } from '../training/host.js';
import type { StepMessage } from '../training/protocol.js';
import { recoverDeadRuns } from '../training/run-owner.js';
import { cellId, cellSpec, type StudyCell, type StudyDefinition } from './study-def.js';
import { cellStatuses, decideClaim, tally, type CellStatus, type StudyTally } from './study-state.js';

export interface CellStartEvent {
  cell: StudyCell;
  run: RunRow;
  attempt: number;
  threads: RunHandle['threads'];
}

export interface StudyRunEvents {
  onCellStart?(e: CellStartEvent): void;
  onCellStep?(cell: StudyCell, m: StepMessage): void;
  onCellEnd?(cell: StudyCell, run: RunRow): void;
  /** Nothing of ours runs, but other processes run cells this study waits on. */
  onWaiting?(cells: StudyCell[]): void;
}

export interface StudyRunOptions {
  store: LabStore;
  dataDir: string;
  host: RunHost;
  study: StudyRow;
  def: StudyDefinition;
  /** Cells trained at once by this process (default 1). */
  parallel?: number;
  events?: StudyRunEvents;
  /** How often to look again while waiting on other processes (ms). */
  pollMs?: number;
}

export interface StudyRunResult {
  statuses: CellStatus[];
  tally: StudyTally;
  /** True if stop() ended it before the grid was through. */
  stopped: boolean;
  /** Cells that could not start (cellId "stage/variant/seed" and why). */
  unstartable: Array<{ cell: string; reason: string }>;
}

export const cellLockPath = (dataDir: string, studyId: number, c: StudyCell): string =>
  path.join(dataDir, 'studies', String(studyId), `${c.stage}-${c.variant}-${c.seed}.lock`);

function takeCellLock(dataDir: string, studyId: number, c: StudyCell): NativeFileLock | null {
  const file = cellLockPath(dataDir, studyId, c);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lock = new (loadEngine().FileLock)(file);
  if (lock.tryLock()) return lock;
  lock.close();
  return null;
}

interface Active {
  cell: StudyCell;
  handle: RunHandle;
  done: Promise<void>;
  startedAt: number;
  /** Share of its steps done (from the step events), for the ETA. */
  progress: { fraction: number };
}

export class StudyRunner {
  private readonly active = new Map<string, Active>();
  /** Cells whose start is impossible for now, and why (reported, not retried in this pass). */
  private readonly unstartable = new Map<string, string>();
  private stopping = false;
  /** The states read at the top of the loop are out of date (a claim found the cell changed). */
  private stale = false;
  private readonly parallel: number;

  constructor(private readonly o: StudyRunOptions) {
    this.parallel = Math.max(1, o.parallel ?? 1);
  }

  /** Starts no new cell and cancels the running ones after their current step. */
  stop(): void {
    this.stopping = true;
    for (const a of this.active.values()) a.handle.cancel();
  }

  /** Ends the running training processes at once (their runs become crashed). */
  kill(): void {
    this.stopping = true;
    for (const a of this.active.values()) a.handle.kill('SIGKILL');
  }

  statuses(): CellStatus[] {
    return cellStatuses(this.o.def, this.o.store.studies.cells(this.o.study.id));
  }

  /** Seconds left (estimated from the cells already done), or null when nothing is known yet. */
  etaSeconds(statuses: readonly CellStatus[] = this.statuses()): number | null {
    const { store, def } = this.o;
    const done = statuses.flatMap((s) => {
      const run = s.state === 'done' && s.row?.runId ? store.runs.get(s.row.runId) : undefined;
      return run?.startedAt && run.endedAt ? [{ cell: s.cell, s: (run.endedAt - run.startedAt) / 1000, steps: Math.max(1, run.lastStep) }] : [];
    });
    if (done.length === 0) return null;
    const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const perStep = avg(done.map((d) => d.s / d.steps));
    const estimate = (c: StudyCell): number => {
      const same = done.filter((d) => d.cell.stage === c.stage && d.cell.variant === c.variant);
      if (same.length) return avg(same.map((d) => d.s));
      const stage = done.filter((d) => d.cell.stage === c.stage);
      if (stage.length) return avg(stage.map((d) => d.s));
      const steps = def.stages[c.stage]?.budget.steps;
      return steps !== undefined ? perStep * steps : avg(done.map((d) => d.s));
    };
    let left = 0;
    for (const s of statuses) {
      if (s.state === 'pending' || s.state === 'retry') left += estimate(s.cell);
      const a = this.active.get(cellId(s.cell));
      if (a) {
        const elapsed = (Date.now() - a.startedAt) / 1000;
        const f = a.progress.fraction;
        left += f > 0.05 ? (elapsed * (1 - f)) / f : Math.max(0, estimate(s.cell) - elapsed);
      }
    }
    return left / this.parallel;
  }

  private startCell(c: StudyCell, statuses: ReadonlyMap<string, CellStatus>): 'started' | 'busy' | 'skip' {
    const { store, dataDir, host, study, def, events } = this.o;
    const stage = def.stages[c.stage];
    if (!stage) return 'skip';
    let initFrom: string | undefined;
    if (stage.init === 'previous') {
      const prev = statuses.get(cellId({ ...c, stage: c.stage - 1 }));
      if (prev?.state !== 'done' || !prev.row?.runId) return 'skip';
      const ckpt = store.checkpoints.latest(prev.row.runId);
      if (!ckpt || !fs.existsSync(ckpt.path)) {
        this.unstartable.set(cellId(c), `stage ${c.stage - 1} run ${prev.row.runId} has no checkpoint on disk to start from`);
        return 'skip';
      }
      initFrom = path.resolve(ckpt.path);
    }
    const lock = takeCellLock(dataDir, study.id, c);
    if (!lock) return 'busy';
    let handle: RunHandle;
    let attempt: number;
    try {
      const claim = store.studies.claim(study.id, c, decideClaim);
      if (claim.kind === 'busy') {
        lock.close();
        return 'busy';
      }
      if (claim.kind !== 'start') {
        // Another process finished or gave up on it since we read the states: read them again.
        this.stale = true;
        lock.close();
        return 'skip';
      }
      attempt = claim.attempt;
      const progress = { fraction: 0 };
      const startedAt = Date.now();
      handle = host.start(cellSpec(def, c, initFrom), {
        onStep: (m) => {
          progress.fraction = m.totalSteps > 0 ? m.step / m.totalSteps : 0;
          events?.onCellStep?.(c, m);
        },
      });
      store.studies.link(study.id, c, handle.run.id);
      const done = handle.done.then(
        (row) => {
          this.active.delete(cellId(c));
          lock.close();
          // Cancelled from outside (lshlab runs cancel, the app): not redone until the study is run again.
          if (row.status === 'cancelled' && !this.stopping)
            this.unstartable.set(cellId(c), `its run ${row.id} was cancelled; run the study again to redo it`);
          events?.onCellEnd?.(c, row);
        },
        (e: unknown) => {
          this.active.delete(cellId(c));
          lock.close();
          throw e;
        },
      );
      this.active.set(cellId(c), { cell: c, handle, done, startedAt, progress });
    } catch (e) {
      if (!this.active.has(cellId(c))) lock.close();
      throw e;
    }
    events?.onCellStart?.({ cell: c, run: handle.run, attempt, threads: handle.threads });
    return 'started';
  }

  /** Runs until every cell is done, failed or blocked (or stop() is called); returns where it stands. */
  async run(): Promise<StudyRunResult> {
    try {
      await this.loop();
    } catch (e) {
      // Do not leave training processes behind an error: cancel them and wait for their rows.
      this.stop();
      await Promise.allSettled([...this.active.values()].map((a) => a.done));
      throw e;
    }
    const final = this.statuses();
    const t = tally(final);
    const unstartable = [...this.unstartable].map(([id, reason]) => ({ cell: id, reason }));
    return { statuses: final, tally: t, stopped: this.stopping && t.done + t.failed + t.blocked < t.total, unstartable };
  }

  private async loop(): Promise<void> {
    const { store, dataDir } = this.o;
    for (;;) {
      recoverDeadRuns(store, dataDir);
      const statuses = this.statuses();
      const byId = new Map(statuses.map((s) => [cellId(s.cell), s]));
      const waitingOn: StudyCell[] = [];
      this.stale = false;
      if (!this.stopping) {
        for (const s of statuses) {
          if (this.active.size >= this.parallel) break;
          if (this.active.has(cellId(s.cell))) continue;
          if (s.state === 'running') waitingOn.push(s.cell);
          if (s.state !== 'pending' && s.state !== 'retry') continue;
          if (this.unstartable.has(cellId(s.cell))) continue;
          if (this.startCell(s.cell, byId) === 'busy') waitingOn.push(s.cell);
        }
      }
      if (this.active.size === 0) {
        if (this.stopping) break;
        if (this.stale) continue;
        // Cells of this study that other processes train: wait for them (later stages may depend on them).
        const elsewhere = waitingOn.length > 0 || statuses.some((s) => s.state === 'running');
        if (!elsewhere) break;
        this.o.events?.onWaiting?.(waitingOn.length ? waitingOn : statuses.filter((s) => s.state === 'running').map((s) => s.cell));
        await new Promise((r) => setTimeout(r, this.o.pollMs ?? 1000));
        continue;
      }
      // While other processes hold cells, look again now and then: a slot of ours may be free.
      // (unref: the running cells keep the process alive; a leftover timer must not delay its exit.)
      const poll = waitingOn.length > 0 ? [new Promise((r) => setTimeout(r, (this.o.pollMs ?? 1000) * 5).unref())] : [];
      await Promise.race([...[...this.active.values()].map((a) => a.done), ...poll]);
    }
  }
}

/** Everything cells of a study ever locked lives here (removed with the study). */
export const studyDir = (dataDir: string, studyId: number): string => path.join(dataDir, 'studies', String(studyId));

export type { StudyDefinition };
