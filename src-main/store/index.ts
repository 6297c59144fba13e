/**
 * index.ts: the run store's front door. `openStore(file, opts)` opens (creating or upgrading)
 * the lab's SQLite database and returns a `LabStore` (types.ts); `storePath(dataDir)` is where the
 * lab keeps it. Only store/ touches SQL.
 *
 * Concurrency model: any number of processes open the same file (training hosts, CLI commands, the
 * app, serve mode) and share it through SQLite's WAL locking with short write transactions and a
 * busy timeout. A store object is not meant to be shared across worker threads (better-sqlite3
 * connections are per thread).
 *
 * It does not resolve the data directory (lab/datadir.ts) and does not decide which runs are dead:
 * training/run-owner.ts does, from each run's owner lock.
 */
import * as path from 'node:path';
import { datasetsApi } from './datasets.js';
import { metricsApi } from './metrics.js';
import { openDatabase, toStoreError, type OpenStoreOptions } from './open.js';
import { benchmarksApi, checkpointsApi, environmentsApi, evaluationsApi } from './records.js';
import { runBestsApi } from './run-bests.js';
import { runsApi } from './runs.js';
import { studiesApi } from './studies.js';
import type { LabStore } from './types.js';

export * from './types.js';
export type { OpenStoreOptions } from './open.js';
export { APPLICATION_ID, LATEST_VERSION } from './migrations.js';
export { RUN_PALETTE } from './runs.js';
export { STUDY_NAME_RE } from './studies.js';

/** The store's file in a lab data directory. */
export function storePath(dataDir: string): string {
  return path.join(dataDir, 'lab.db');
}

/**
 * Opens `file` (created if absent, migrated to the latest schema unless read-only). Throws
 * StoreError ('not-sqlite', 'foreign', 'newer-schema', 'corrupt': the file is left untouched;
 * 'in-use': locked by another connection beyond the busy timeout; 'io').
 */
export function openStore(file: string, opts: OpenStoreOptions = {}): LabStore {
  const { db, file: abs } = openDatabase(file, opts);
  let parts;
  try {
    parts = {
      datasets: datasetsApi(db),
      runs: runsApi(db),
      metrics: metricsApi(db),
      evaluations: evaluationsApi(db),
      runBests: runBestsApi(db),
      benchmarks: benchmarksApi(db),
      environments: environmentsApi(db),
      checkpoints: checkpointsApi(db),
      studies: studiesApi(db),
    };
  } catch (e) {
    db.close();
    throw toStoreError(abs, e);
  }
  let closed = false;
  return {
    path: abs,
    schemaVersion: () => db.pragma('user_version', { simple: true }) as number,
    integrityCheck() {
      const rows = db.pragma('integrity_check') as { integrity_check: string }[];
      return rows.map((r) => r.integrity_check).join('\n');
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
    ...parts,
  };
}
