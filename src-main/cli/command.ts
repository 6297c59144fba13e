/**
 * command.ts: what every lshlab command looks like, the global flags, and the context handed to a
 * command when it runs (output streams, the engine, the data directory).
 */
import type { FlagSpecs, ParsedFlags } from './args.js';
import type { NativeAddon } from '../engine/index.js';
import { loadEngine } from '../engine/index.js';
import { ensureDataDir, resolveDataDir, type ResolvedDataDir } from '../lab/datadir.js';

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

export interface Command<S extends FlagSpecs = FlagSpecs> {
  /** Command words, e.g. ["bench", "gemm"]. */
  path: readonly string[];
  summary: string;
  /** One usage line without the leading "lshlab ". */
  usage: string;
  /** Extra help paragraphs. */
  details?: string;
  flags: S;
  run(flags: ParsedFlags<S>, ctx: Context): Promise<number>;
}

/** Identity helper that keeps the flag types of a command literal. */
export function defineCommand<S extends FlagSpecs>(c: Command<S>): Command<S> {
  return c;
}
