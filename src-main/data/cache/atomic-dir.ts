/**
 * atomic-dir.ts: writes a dataset's files into a temporary directory beside the target
 * (".<name>.tmp-<pid>-<random>") and renames it into place only when the writer finished; on any
 * error or cancellation the temporary directory is removed, so a failed import leaves no orphan
 * files. The target must not exist yet (no silent replacement). It does not lock across processes
 * beyond what rename gives (a concurrent writer of the same target gets an error, not a mix).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface AtomicDirOptions {
  signal?: AbortSignal | undefined;
}

/** Thrown when the signal fires before the directory is committed. */
export class AtomicDirCancelledError extends Error {
  constructor(readonly target: string) {
    super(`import cancelled: ${target} was not written`);
    this.name = 'AtomicDirCancelledError';
  }
}

export function tempDirFor(target: string): string {
  const base = path.basename(target);
  return path.join(path.dirname(target), `.${base}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
}

/** Runs `write(tmpDir)` and then renames tmpDir to `target`. Returns `target`. */
export async function withAtomicDir<T>(
  target: string,
  write: (tmpDir: string) => Promise<T>,
  opts: AtomicDirOptions = {},
): Promise<T> {
  const parent = path.dirname(target);
  await fs.promises.mkdir(parent, { recursive: true });
  if (fs.existsSync(target)) throw new Error(`${target}: already exists (remove it first)`);
  const tmp = tempDirFor(target);
  await fs.promises.mkdir(tmp);
  try {
    if (opts.signal?.aborted) throw new AtomicDirCancelledError(target);
    const result = await write(tmp);
    if (opts.signal?.aborted) throw new AtomicDirCancelledError(target);
    try {
      await fs.promises.rename(tmp, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new Error(`${target}: already exists (written concurrently)`);
      throw err;
    }
    return result;
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Lists leftover temporary directories beside `target` (for tests and `datasets` cleanup). */
export function leftoverTempDirs(target: string): string[] {
  const parent = path.dirname(target);
  const prefix = `.${path.basename(target)}.tmp-`;
  if (!fs.existsSync(parent)) return [];
  return fs.readdirSync(parent).filter((n) => n.startsWith(prefix)).map((n) => path.join(parent, n));
}
