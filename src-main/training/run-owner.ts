/**
 * run-owner.ts: which process owns an active run, and which runs have lost their owner.
 *
 * A host claims a run by taking an OS-level exclusive lock on `runs/<uuid>/owner.lock` (the
 * addon's FileLock: flock on POSIX, LockFileEx on Windows) BEFORE the run's row exists, and keeps
 * it until it has written the run's final status. The kernel drops the lock when the process dies,
 * however it dies, so any process can tell a dead owner from a live one by trying the lock: if it
 * can take it, nobody owns the run. Pids play no part (they are reused); a host never sees its own
 * runs as dead (flock locks of two descriptors conflict within one process too).
 *
 * recoverDeadRuns() is what every command that opens a lab calls: each 'running' or 'queued' run
 * whose lock it can take becomes 'crashed'; runs of live hosts are never touched. The status check
 * and the update happen in one conditional UPDATE while the checker holds the lock, so a run its
 * owner finished a moment earlier keeps its final status.
 *
 * It does not start or stop processes (host.ts does) and writes nothing but lock files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadEngine, type NativeFileLock } from '../engine/index.js';
import type { LabStore, RunRow } from '../store/types.js';

/** The error text of a run whose owning process died while it was active. */
export const ORPHAN_REASON =
  'the lshlab process that hosted this run stopped while it was active (killed or crashed); metrics up to its last flush are kept';

export function runDirOf(dataDir: string, run: Pick<RunRow, 'uuid'>): string {
  return path.join(dataDir, 'runs', run.uuid);
}

export const ownerLockPath = (dataDir: string, uuid: string): string => path.join(dataDir, 'runs', uuid, 'owner.lock');

/** A claim on one run, held by this process until released (or until it dies). */
export class RunClaim {
  private constructor(
    readonly uuid: string,
    private readonly lock: NativeFileLock,
  ) {}

  /** Creates the run's directory and takes its lock; throws if another process holds it. */
  static take(dataDir: string, uuid: string): RunClaim {
    fs.mkdirSync(path.join(dataDir, 'runs', uuid), { recursive: true });
    const lock = new (loadEngine().FileLock)(ownerLockPath(dataDir, uuid));
    if (!lock.tryLock()) {
      lock.close();
      throw new Error(`run ${uuid} is owned by another live lshlab process`);
    }
    return new RunClaim(uuid, lock);
  }

  get held(): boolean {
    return this.lock.locked;
  }

  release(): void {
    this.lock.close();
  }
}

/**
 * Whether the owner of an active run is alive. A run without a directory or lock file was never
 * claimed by a host of this version (or its directory was deleted): nobody can be hosting it.
 * If the lock is free, `whileFree` runs while this process holds it, then it is released.
 */
export function probeOwner(dataDir: string, uuid: string, whileFree: () => void = () => undefined): 'alive' | 'dead' {
  const file = ownerLockPath(dataDir, uuid);
  if (!fs.existsSync(file)) {
    whileFree();
    return 'dead';
  }
  const lock = new (loadEngine().FileLock)(file);
  try {
    if (!lock.tryLock()) return 'alive';
    whileFree();
    return 'dead';
  } finally {
    lock.close();
  }
}

/** Marks crashed exactly the active runs whose owner is gone; returns them. */
export function recoverDeadRuns(store: LabStore, dataDir: string, reason = ORPHAN_REASON): RunRow[] {
  const out: RunRow[] = [];
  for (const run of store.runs.active()) {
    probeOwner(dataDir, run.uuid, () => {
      const row = store.runs.markCrashed(run.id, reason);
      if (row) out.push(row);
    });
  }
  return out;
}
