/**
 * train-progress.ts: the progress bar of a training run on stderr: step, loss, tokens/s, ETA.
 * On a terminal it redraws one line at most 10 times a second; otherwise (logs, CI) it prints a
 * plain line every 10% of the run or every 15 seconds, whichever comes first, so logs stay short.
 * It only formats: the run host's events drive it.
 */
import type { Output } from './command.js';
import type { StepMessage } from '../training/protocol.js';
import { num } from './format.js';

export function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class TrainProgress {
  private readonly t0 = Date.now();
  private lastDraw = 0;
  private lastLine = 0;
  private lastDecile = -1;
  private startStep = 0;
  /** Exponential moving average of tokens/s (the first steps include warm-up). */
  private tps = NaN;
  private width = 0;

  constructor(
    private readonly err: Output,
    private readonly label: string,
  ) {}

  begin(startStep: number): void {
    this.startStep = startStep;
  }

  step(m: StepMessage): void {
    const inst = m.stepS > 0 ? m.tokens / m.stepS : NaN;
    this.tps = Number.isNaN(this.tps) ? inst : 0.9 * this.tps + 0.1 * inst;
    const now = Date.now();
    const doneSteps = m.step - this.startStep;
    const rate = doneSteps / Math.max(1e-3, (now - this.t0) / 1000);
    const eta = (m.totalSteps - m.step) / rate;
    const frac = m.step / m.totalSteps;
    const text =
      `step ${m.step}/${m.totalSteps}  loss ${num(m.loss, 4)}  ${num(this.tps)} tok/s  ` +
      `elapsed ${clock((now - this.t0) / 1000)}  ETA ${clock(eta)}`;
    if (this.err.isTTY) {
      if (now - this.lastDraw < 100 && m.step < m.totalSteps) return;
      this.lastDraw = now;
      const bar = '#'.repeat(Math.round(frac * 20)).padEnd(20, '.');
      const line = `${this.label} [${bar}] ${text}`;
      this.err.write(`\r${line.padEnd(this.width)}`);
      this.width = line.length;
      return;
    }
    const decile = Math.floor(frac * 10);
    if (decile > this.lastDecile || now - this.lastLine > 15000) {
      this.lastDecile = decile;
      this.lastLine = now;
      this.err.write(`${this.label}: ${text}\n`);
    }
  }

  /** A line that must not be overdrawn (an evaluation, a checkpoint, a warning). */
  line(text: string): void {
    if (this.err.isTTY && this.width > 0) {
      this.err.write(`\r${' '.repeat(this.width)}\r`);
      this.width = 0;
    }
    this.err.write(`${this.label}: ${text}\n`);
  }

  end(text: string): void {
    this.line(`${text} in ${clock((Date.now() - this.t0) / 1000)}`);
  }
}
