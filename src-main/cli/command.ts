/**
 * command.ts: what every lshlab command looks like, the global flags, and the context handed to a
 * command when it runs (output streams, the engine, the data directory).
 */
import { UsageError, type FlagSpecs, type ParsedFlags } from './args.js';
import type { NativeAddon } from '../engine/index.js';
import { loadEngine } from '../engine/index.js';
import { ensureDataDir, resolveDataDir, type ResolvedDataDir } from '../lab/datadir.js';
import { openStore, storePath } from '../store/index.js';
import type { LabStore, RunRow } from '../store/types.js';
import { recoverDeadRuns } from '../training/run-owner.js';

export const GLOBAL_FLAGS = {
  threads: {
    type: 'int',
    min: 1,
    max: 1024,
    metavar: 'N',
    description: 'worker threads for the engine (default: all cores)',
  },
  'data-dir': {
    type: 'string',
    metavar: 'DIR',
    description: 'lab data directory (default: $LSHLAB_DATA_DIR, else the per-user app data folder)',
  },
} as const satisfies FlagSpecs;

export type GlobalFlags = ParsedFlags<typeof GLOBAL_FLAGS>;

export interface Output {
  write(text: string): void;
  isTTY: boolean;
}

export class Context {
  private engineCache: NativeAddon | undefined;

  constructor(
    readonly globals: GlobalFlags,
    readonly stdout: Output,
    readonly stderr: Output,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Results: one line to stdout. */
  out(line = ''): void {
    this.stdout.write(line + '\n');
  }

  /** Progress and diagnostics: one line to stderr. */
  note(line = ''): void {
    this.stderr.write(line + '\n');
  }

  /** The native addon, loaded on first use, with --threads applied. */
  engine(): NativeAddon {
    if (!this.engineCache) {
      const e = loadEngine();
      if (this.globals.threads !== undefined) e.setThreads(this.globals.threads);
      this.engineCache = e;
    }
    return this.engineCache;
  }

  /** The lab data directory, without creating it. */
  dataDir(): ResolvedDataDir {
    return resolveDataDir({ flag: this.globals['data-dir'], env: this.env });
  }

  /** The lab data directory, created if missing. */
  ensureDataDir(): ResolvedDataDir {
    return ensureDataDir({ flag: this.globals['data-dir'], env: this.env });
  }
}

/** How many positional arguments a command takes (`datasets import PATH`, `runs compare A B ...`). */
export interface PositionalSpec {
  min: number;
  /** Infinity: any number. */
  max: number;
  /** What they are, for the error when too few are given: "a run (id, uuid prefix or name)". */
  what: string;
}

export interface Command<S extends FlagSpecs = FlagSpecs> {
  /** Command words, e.g. ["bench", "gemm"]. */
  path: readonly string[];
  summary: string;
  /** One usage line without the leading "lshlab ". */
  usage: string;
  /** Extra help paragraphs. */
  details?: string;
  flags: S;
  /** Absent: the command takes no positional arguments. */
  positionals?: PositionalSpec;
  /** `args`: the positional arguments, already checked against `positionals`. */
  run(flags: ParsedFlags<S>, ctx: Context, args: string[]): Promise<number>;
}

/** Identity helper that keeps the flag types of a command literal. */
export function defineCommand<S extends FlagSpecs>(c: Command<S>): Command<S> {
  return c;
}

/** Checks the positional arguments of a command against its spec (main.ts calls it). */
export function checkPositionals(c: Pick<Command, 'path' | 'positionals'>, args: readonly string[]): void {
  const name = c.path.join(' ');
  const spec = c.positionals ?? { min: 0, max: 0, what: '' };
  if (args.length < spec.min) throw new UsageError(`'${name}' needs ${spec.what}`, name);
  if (args.length > spec.max) throw new UsageError(`unexpected argument '${args[spec.max]}'`, name);
}

/** A command with positional arguments, written run(flags, args, ctx) for readability. */
export function defineWithArgs<S extends FlagSpecs>(c: Omit<Command<S>, 'run' | 'positionals'> & {
  positionals: PositionalSpec;
  run(flags: ParsedFlags<S>, args: string[], ctx: Context): Promise<number>;
}): Command<S> {
  const { run, ...rest } = c;
  return { ...rest, run: (flags, ctx, args) => run(flags, args, ctx) };
}

/** Opens the lab store (creating the data directory) for one command, runs `f`, closes it. Any
 *  number of commands and training hosts share a lab. Active runs whose hosting process has died
 *  are marked crashed first (from each run's owner lock: runs of live hosts are never touched), so
 *  `runs list` and `runs rm` do not show them as running. */
export async function withLab<T>(ctx: Context, f: (store: LabStore, dataDir: string) => T | Promise<T>): Promise<T> {
  const dir = ctx.ensureDataDir().dir;
  const store = openStore(storePath(dir));
  try {
    noteDeadRuns(ctx, recoverDeadRuns(store, dir));
    return await f(store, dir);
  } finally {
    store.close();
  }
}

export function noteDeadRuns(ctx: Context, rows: readonly RunRow[]): void {
  for (const r of rows) ctx.note(`lshlab: run ${r.id} (${r.name}) was left running by a process that stopped: marked crashed`);
}
