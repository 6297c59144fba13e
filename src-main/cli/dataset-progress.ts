/**
 * dataset-progress.ts: what the `datasets` and `tokenizer` commands share: the progress line of a
 * dataset preparation on stderr (redrawn in place at most 10 times a second on a terminal; on a
 * pipe or log, a plain line when the phase changes and at most one every 5 s otherwise), opening
 * the lab store for one command, Ctrl-C as a clean cancellation (the import is aborted and
 * leaves nothing behind). It only formats and wires; the work is lab/'s.
 */
import type { Context, Output } from './command.js';
import type { DatasetProgress } from '../lab/datasets.js';
import type { DatasetRow } from '../store/types.js';
import { AtomicDirCancelledError } from '../data/cache/atomic-dir.js';
import { TokenCacheCancelledError } from '../data/cache/token-cache.js';
import { ImportCancelledError } from '../data/import/common.js';

const MB = 1024 * 1024;

/** "sst2: read 1.2 / 3.4 MB (35%)", "builtin-text: tokenize 400 / 871 records (46%)". */
export function describeProgress(p: DatasetProgress): string {
  const phase = p.phase === 'train-tokenizer' ? 'train tokenizer' : p.phase;
  if (p.unit === 'steps') return `${p.dataset}: ${phase}`;
  const pct = p.total > 0 ? ` (${Math.floor((100 * p.done) / p.total)}%)` : '';
  if (p.unit === 'bytes') return `${p.dataset}: ${phase} ${(p.done / MB).toFixed(1)} / ${(p.total / MB).toFixed(1)} MB${pct}`;
  return `${p.dataset}: ${phase} ${p.done} / ${p.total} records${pct}`;
}

export class ProgressLine {
  private lastDraw = 0;
  private lastKey = '';
  private lastPrint = 0;
  private width = 0;
  private readonly t0 = Date.now();

  constructor(private readonly err: Output, private readonly label: string) {}

  update(p: DatasetProgress): void {
    const now = Date.now();
    const key = `${p.dataset}:${p.phase}`;
    const text = `${this.label}: ${describeProgress(p)}  ${((now - this.t0) / 1000).toFixed(1)} s`;
    if (this.err.isTTY) {
      if (key === this.lastKey && now - this.lastDraw < 100) return;
      this.lastKey = key;
      this.lastDraw = now;
      this.err.write(`\r${text.padEnd(this.width)}`);
      this.width = text.length;
      return;
    }
    if (key !== this.lastKey || now - this.lastPrint >= 5000) {
      this.lastKey = key;
      this.lastPrint = now;
      this.err.write(text + '\n');
    }
  }

  /** A line of its own (a note), keeping the progress line below it on a terminal. */
  note(line: string): void {
    if (this.err.isTTY && this.width > 0) this.err.write(`\r${' '.repeat(this.width)}\r`);
    this.width = 0;
    this.err.write(line + '\n');
  }

  done(summary: string): void {
    const text = `${this.label}: ${summary} in ${((Date.now() - this.t0) / 1000).toFixed(1)} s`;
    if (this.err.isTTY) this.err.write(`\r${text.padEnd(this.width)}\n`);
    else this.err.write(text + '\n');
    this.width = 0;
  }

  /** Ends the in-place line without a summary (before an error message). */
  clear(): void {
    if (this.err.isTTY && this.width > 0) this.err.write('\n');
    this.width = 0;
  }
}

export { withLab } from './command.js';

/** Runs `f` with a signal that Ctrl-C (SIGINT) aborts; the handler is removed afterwards. */
export async function withInterrupt<T>(ctx: Context, f: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onInt = (): void => {
    if (ac.signal.aborted) process.exit(130);
    ctx.note('\nlshlab: cancelling (Ctrl-C again to quit at once) ...');
    ac.abort();
  };
  process.on('SIGINT', onInt);
  try {
    return await f(ac.signal);
  } finally {
    process.off('SIGINT', onInt);
  }
}

/** True for the errors a cancelled import or add-builtin ends with. */
export function isCancellation(err: unknown): boolean {
  return err instanceof ImportCancelledError || err instanceof AtomicDirCancelledError || err instanceof TokenCacheCancelledError;
}

const int = (n: number): string => n.toLocaleString('en-US');

/** "train 900, validation 100". */
export function splitsText(splits: Record<string, number>): string {
  return Object.entries(splits).map(([k, v]) => `${k} ${int(v)}`).join(', ');
}

/** "builtin, synthetic" (what `datasets list` shows in its notes column). */
export function datasetNotes(row: DatasetRow): string {
  const n: string[] = [];
  if (row.builtin) n.push('builtin');
  if (row.stats['synthetic'] === true) n.push('synthetic');
  return n.join(', ');
}

/** A few lines about one dataset (after an import, in `datasets show`). */
export function datasetSummary(row: DatasetRow): string {
  const notes = datasetNotes(row);
  const lines = [
    `${row.name}: ${row.kind}${notes ? ` (${notes})` : ''}, ${int(row.numRecords)} records (${splitsText(row.splits)}), ${int(row.numTokens)} tokens`,
  ];
  if (row.labelSet.length > 0) lines.push(`  labels     ${row.labelSet.join(', ')}`);
  lines.push(`  tokenizer  ${row.tokenizer}`);
  lines.push(`  source     ${row.source} (${row.format})`);
  lines.push(`  directory  ${row.dir}`);
  return lines.join('\n');
}
