/**
 * study-progress.ts: the progress of `lshlab study run` on stderr, as "stage 2/3, run 7/45":
 * one line when a cell starts (its stage, the variant and seed, the run id, the attempt) and one
 * when it ends (status, time, final loss, cells done, ETA of the whole study). On a terminal one
 * more line is redrawn while runs train (step, loss, ETA), at most 4 times a second; in logs
 * (not a TTY) only the start and end lines are printed. It only formats: the runner's events
 * drive it, and the ETA is the runner's (study-runner.ts etaSeconds).
 */
import type { Output } from './command.js';
import type { RunRow } from '../store/types.js';
import type { StepMessage } from '../training/protocol.js';
import type { StudyCell, StudyDefinition } from '../lab/study-def.js';
import type { CellStartEvent } from '../lab/study-runner.js';
import type { StudyTally } from '../lab/study-state.js';
import { clock } from './train-progress.js';
import { num } from './format.js';

export class StudyProgress {
  private width = 0;
  private lastDraw = 0;
  private eta: number | null = null;
  private etaAt = 0;
  private readonly t0 = Date.now();
  private readonly losses = new Map<string, number>();

  constructor(
    private readonly err: Output,
    private readonly def: StudyDefinition,
    /** Recomputes the study's ETA in seconds (called at most once a second). */
    private readonly etaOf: () => number | null,
  ) {}

  private where(c: StudyCell): string {
    const total = this.def.stages.length * this.def.variants.length * this.def.seeds.length;
    return `stage ${c.stage + 1}/${this.def.stages.length}, run ${c.index + 1}/${total}: ${c.variant} seed ${c.seed}`;
  }

  private freshEta(force = false): string {
    const now = Date.now();
    if (force || now - this.etaAt > 1000) {
      this.eta = this.etaOf();
      this.etaAt = now;
    }
    return this.eta === null ? 'ETA --:--' : `ETA ${clock(this.eta)}`;
  }

  /** A line that stays (clears the redrawn line first on a terminal). */
  line(text: string): void {
    if (this.err.isTTY && this.width > 0) {
      this.err.write(`\r${' '.repeat(this.width)}\r`);
      this.width = 0;
    }
    this.err.write(`${text}\n`);
  }

  start(e: CellStartEvent): void {
    const stage = this.def.stages[e.cell.stage];
    const threads = e.threads.count !== null ? `, ${e.threads.count} thread(s)` : '';
    this.line(
      `${this.where(e.cell)} started (${stage?.task} on ${stage?.dataset}; run ${e.run.id}${e.attempt > 1 ? `, attempt ${e.attempt}` : ''}${threads})`,
    );
  }

  step(c: StudyCell, m: StepMessage): void {
    this.losses.set(`${c.stage}/${c.variant}/${c.seed}`, m.loss);
    if (!this.err.isTTY) return;
    const now = Date.now();
    if (now - this.lastDraw < 250) return;
    this.lastDraw = now;
    const text = `${this.where(c)} step ${m.step}/${m.totalSteps} loss ${num(m.loss, 4)} | elapsed ${clock((now - this.t0) / 1000)}, ${this.freshEta()}`;
    this.err.write(`\r${text.padEnd(this.width)}`);
    this.width = text.length;
  }

  end(c: StudyCell, run: RunRow, t: StudyTally): void {
    const secs = run.startedAt && run.endedAt ? clock((run.endedAt - run.startedAt) / 1000) : '-';
    const loss = this.losses.get(`${c.stage}/${c.variant}/${c.seed}`);
    const what = run.status === 'finished' ? `finished in ${secs}${loss !== undefined ? ` (train loss ${num(loss, 4)})` : ''}` : `${run.status}${run.error ? `: ${run.error}` : ''}`;
    const failed = t.failed + t.blocked ? `, ${t.failed + t.blocked} failed or blocked` : '';
    this.line(`${this.where(c)} ${what} | ${t.done}/${t.total} done${failed}, ${this.freshEta(true)}`);
  }

  waiting(cells: readonly StudyCell[]): void {
    const now = Date.now();
    if (now - this.lastDraw < 10_000) return;
    this.lastDraw = now;
    this.line(`waiting for ${cells.length} run(s) of this study that another lshlab process is training (${cells.slice(0, 3).map((c) => this.where(c)).join('; ')})`);
  }
}
