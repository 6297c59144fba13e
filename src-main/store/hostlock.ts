/**
 * hostlock.ts: the training host's exclusive claim on a database, a file `<db>.host-lock` beside
 * it holding {pid, hostname, command, startedAt, token}. One host (the app, `lshlab train`,
 * `lshlab demo`) writes runs at a time; a second host is refused with the holder's pid, command
 * and start time. A lock whose pid is dead on this machine (a host killed with -9) is taken over.
 *
 * It is advisory: only openStore({host}) looks at it. Short commands (runs list, runs tag) open
 * without it and rely on SQLite's own locking. It does not catch signals: a host that dies from
 * SIGINT/SIGTERM without handling them leaves its lock behind, and the next host takes it over
 * because the pid is dead. A lock held from another hostname (a shared network folder) is always
 * respected, since its pid cannot be checked from here.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { StoreError } from './types.js';

export interface HostLockInfo {
  pid: number;
  hostname: string;
  command: string;
  /** ISO time. */
  startedAt: string;
  /** Random; tells our lock from a successor's when releasing. */
  token: string;
}

export const lockPathOf = (dbFile: string): string => `${dbFile}.host-lock`;

/** Locks held by this process, released on 'exit' if their store was never closed. */
const held = new Set<HostLock>();
let exitHookInstalled = false;

export class HostLock {
  private released = false;
  constructor(
    readonly path: string,
    readonly info: HostLockInfo,
  ) {}

  /** Removes the lock file if it is still ours (a successor that took over keeps its own). */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    const now = readLock(this.path);
    if (now.state === 'held' && now.info.token === this.info.token) {
      try {
        fs.unlinkSync(this.path);
      } catch {
        // already gone: nothing to release
      }
    }
  }
}

type LockState = { state: 'gone' } | { state: 'unreadable'; ageMs: number } | { state: 'held'; info: HostLockInfo };

function readLock(file: string): LockState {
  let text: string;
  let ageMs = 0;
  try {
    text = fs.readFileSync(file, 'utf8');
    ageMs = Date.now() - fs.statSync(file).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'gone' };
    throw e;
  }
  try {
    const o = JSON.parse(text) as Partial<HostLockInfo>;
    if (typeof o.pid === 'number' && typeof o.hostname === 'string') {
      return {
        state: 'held',
        info: {
          pid: o.pid,
          hostname: o.hostname,
          command: String(o.command ?? '?'),
          startedAt: String(o.startedAt ?? '?'),
          token: String(o.token ?? ''),
        },
      };
    }
  } catch {
    // fall through: half-written or not ours
  }
  return { state: 'unreadable', ageMs };
}

/** Whether the holder may still be running. EPERM means it exists under another user. */
function holderAlive(info: HostLockInfo): boolean {
  if (info.hostname !== os.hostname()) return true;
  if (info.pid === process.pid) return true;
  try {
    process.kill(info.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function inUse(dbFile: string, info: HostLockInfo): StoreError {
  const where = info.hostname === os.hostname() ? '' : ` on ${info.hostname}`;
  return new StoreError(
    dbFile,
    `database in use by another lshlab host (pid ${info.pid}${where}, '${info.command}', since ${info.startedAt}); wait for it to finish or stop it`,
    'in-use',
  );
}

/**
 * Takes the host lock of `dbFile` or throws StoreError 'in-use' / 'io'. Creation is O_EXCL
 * ('wx'); a stale lock is replaced by rename (atomic), then read back: if two hosts replace the
 * same stale lock at once, the later rename wins and the earlier one sees a foreign token and
 * retries. (A window remains where both read back before either's rename lands; it needs two
 * hosts starting within microseconds of each other after a crash.)
 */
export function acquireHostLock(dbFile: string, command: string): HostLock {
  const file = lockPathOf(dbFile);
  const info: HostLockInfo = {
    pid: process.pid,
    hostname: os.hostname(),
    command,
    startedAt: new Date().toISOString(),
    token: crypto.randomBytes(8).toString('hex'),
  };
  const body = JSON.stringify(info) + '\n';
  const io = (e: unknown): StoreError =>
    new StoreError(dbFile, `cannot write the host lock ${file}: ${(e as Error).message}`, 'io');

  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      try {
        fs.writeSync(fd, body);
      } finally {
        fs.closeSync(fd);
      }
      return hold(file, info);
    } catch (e) {
      if (e instanceof StoreError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw io(e);
    }

    let cur = readLock(file);
    // Another host may be between its open('wx') and its write: give it a moment.
    for (let i = 0; i < 10 && cur.state === 'unreadable' && cur.ageMs < 5000; i++) {
      sleepMs(25);
      cur = readLock(file);
    }
    if (cur.state === 'gone') continue; // released meanwhile: try O_EXCL again
    if (cur.state === 'held' && holderAlive(cur.info)) throw inUse(dbFile, cur.info);
    if (cur.state === 'unreadable' && cur.ageMs < 5000) {
      throw new StoreError(dbFile, `database in use by another lshlab host (its lock ${file} is being written); try again`, 'in-use');
    }

    // Stale (dead pid, or unreadable for seconds): replace it atomically.
    const tmp = `${file}.${process.pid}.${info.token}.tmp`;
    try {
      fs.writeFileSync(tmp, body, { flag: 'wx', mode: 0o644 });
      fs.renameSync(tmp, file);
    } catch (e) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // never created
      }
      throw io(e);
    }
    const after = readLock(file);
    if (after.state === 'held' && after.info.token === info.token) return hold(file, info);
    if (after.state === 'held' && holderAlive(after.info)) throw inUse(dbFile, after.info);
  }
  throw new StoreError(dbFile, `could not take the host lock ${file} (it keeps changing); try again`, 'in-use');
}

function hold(file: string, info: HostLockInfo): HostLock {
  const lock = new HostLock(file, info);
  held.add(lock);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous; release() is.
    process.on('exit', () => {
      for (const l of [...held]) l.release();
    });
  }
  return lock;
}
