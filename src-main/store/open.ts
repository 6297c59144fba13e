/**
 * open.ts: opening a database file safely. Before better-sqlite3 may write to an existing file we
 * check, without writing, that it is ours: a file that is not SQLite, a SQLite file of another
 * program, a database written by a newer lshlab, or a damaged one is refused with a StoreError
 * and left byte-for-byte as it was. Then a read-write connection with WAL, foreign keys, a busy
 * timeout and synchronous=NORMAL, and the migrations. Any number of processes may open the same
 * file at once (CLI commands, the app, serve mode, several training hosts): writes are short
 * transactions, and migrations run once however many processes open an old file together.
 *
 * It does not create the parent directory (lab/datadir.ts owns that) and does not mark crashed
 * runs (training/run-owner.ts does, from the runs' own locks).
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APPLICATION_ID, LATEST_VERSION, migrate } from './migrations.js';
import { StoreError } from './types.js';

export interface OpenStoreOptions {
  /** Open read-only: no migrations, no WAL switch; the file must exist and be at the latest schema. */
  readonly?: boolean;
}

export interface OpenedDatabase {
  db: Database.Database;
  file: string;
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
/** Several training hosts append at once; a commit takes milliseconds, so a wait this long means
 *  something is wrong (a stuck process holding a write transaction), not contention. */
const BUSY_TIMEOUT_MS = 30000;

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/** A SqliteError (or any error) as a StoreError naming the file. */
export function toStoreError(file: string, e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  const msg = err.message ?? String(e);
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || /file is not a database|malformed/i.test(msg)) {
    return new StoreError(file, `damaged: ${msg}; it was left untouched (restore it from a backup or move it aside)`, 'corrupt');
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreError(file, `locked by another connection for more than ${BUSY_TIMEOUT_MS / 1000} s (${msg})`, 'in-use');
  }
  return new StoreError(file, msg, 'io');
}

/** Refuses a non-empty file whose first 16 bytes are not SQLite's; reads nothing else. */
function checkHeader(file: string): void {
  const head = Buffer.alloc(16);
  let n = 0;
  const fd = fs.openSync(file, 'r');
  try {
    n = fs.readSync(fd, head, 0, 16, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n < 16 || !head.equals(SQLITE_HEADER)) {
    throw new StoreError(file, 'not an lshlab database (not a SQLite file); it was left untouched', 'not-sqlite');
  }
}

/**
 * Looks inside an existing SQLite file through a read-only connection (which cannot change it):
 * whose it is and which schema it has. An id-less file with no schema objects (made by
 * `sqlite3 lab.db ''`, say) is adopted as new.
 */
function inspect(file: string): void {
  let ro: Database.Database | undefined;
  try {
    ro = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    const appId = ro.pragma('application_id', { simple: true }) as number;
    const version = ro.pragma('user_version', { simple: true }) as number;
    const objects = (ro.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'`).get() as { n: number }).n;
    if (appId !== APPLICATION_ID) {
      if (appId === 0 && objects === 0 && version === 0) return;
      const what = appId === 0 ? `${objects} tables or indexes, no lshlab application_id` : `application_id ${hex(appId)}`;
      throw new StoreError(file, `not an lshlab database: it is a SQLite database of another program (${what}); it was left untouched`, 'foreign');
    }
    if (version > LATEST_VERSION) {
      throw new StoreError(
        file,
        `written by a newer lshlab (schema ${version}, this one knows ${LATEST_VERSION}); upgrade lshlab to open it`,
        'newer-schema',
      );
    }
  } catch (e) {
    throw toStoreError(file, e);
  } finally {
    ro?.close();
  }
}

export function openDatabase(fileIn: string, opts: OpenStoreOptions = {}): OpenedDatabase {
  const file = path.resolve(fileIn);

  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw toStoreError(file, e);
  }
  if (st && !st.isFile()) throw new StoreError(file, 'not a regular file', 'io');
  if (!st && opts.readonly) throw new StoreError(file, 'does not exist (nothing was created: opened read-only)', 'io');
  if (!st && !fs.existsSync(path.dirname(file))) throw new StoreError(file, `directory ${path.dirname(file)} does not exist`, 'io');
  if (st && st.size > 0) {
    try {
      checkHeader(file);
    } catch (e) {
      throw toStoreError(file, e);
    }
    inspect(file);
  }

  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: !!opts.readonly, fileMustExist: !!opts.readonly, timeout: BUSY_TIMEOUT_MS });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    // Reads of long series and of 10k-run lists go through the page cache; mmap avoids a read()
    // per page. 256 MiB of address space, not of memory.
    db.pragma('mmap_size = 268435456');
    db.pragma('cache_size = -32768');
    if (opts.readonly) {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== LATEST_VERSION) {
        throw new StoreError(file, `schema ${version}, not ${LATEST_VERSION}: open it read-write once to upgrade it`, 'io');
      }
    } else {
      // WAL: readers (the CLI, the UI) never block the host's appends, and a killed writer
      // leaves only uncommitted frames, which the next open discards. NORMAL syncs at
      // checkpoints, not at every commit: a power cut may lose the last commits, never
      // consistency.
      const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (String(mode).toLowerCase() !== 'wal') throw new StoreError(file, `cannot switch to WAL (journal mode stays '${mode}')`, 'io');
      db.pragma('synchronous = NORMAL');
      migrate(db);
      // A newer lshlab may have upgraded the file between inspect() and here.
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > LATEST_VERSION) {
        throw new StoreError(file, `written by a newer lshlab (schema ${version}, this one knows ${LATEST_VERSION}); upgrade lshlab to open it`, 'newer-schema');
      }
    }
    return { db, file };
  } catch (e) {
    try {
      db?.close();
    } catch {
      // closing is best effort on the way out
    }
    throw toStoreError(file, e);
  }
}
