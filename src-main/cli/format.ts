/**
 * format.ts: small text helpers for command output (tables, numbers, progress on stderr).
 */
import type { Output } from './command.js';

/** A plain-text table: columns padded, numbers right-aligned when `align` says so. */
export function table(header: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (align[i] === 'r' ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [fmt(header), rule, ...rows.map(fmt)].join('\n');
}

/** Engineering-style number: 3 significant digits, exponent for very small or large values. */
export function num(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e7) return v.toExponential(digits - 1);
  return Number(v.toPrecision(Math.max(digits, Math.ceil(Math.log10(a + 1))))).toString();
}

/** Elapsed-time ticker on stderr: rewrites one line on a TTY, prints start and end otherwise. */
export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly start = Date.now();

  constructor(
    private readonly err: Output,
    private readonly label: string,
  ) {
    if (err.isTTY) {
      this.draw();
      this.timer = setInterval(() => this.draw(), 250);
    } else {
      err.write(`${label} ...\n`);
    }
  }

  private elapsed(): string {
    return ((Date.now() - this.start) / 1000).toFixed(1) + ' s';
  }

  private draw(): void {
    this.err.write(`\r${this.label} ... ${this.elapsed()}`);
  }

  done(suffix = 'done'): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.err.isTTY) this.err.write(`\r${this.label} ... ${suffix} in ${this.elapsed()}\n`);
    else this.err.write(`${this.label}: ${suffix} in ${this.elapsed()}\n`);
  }
}
