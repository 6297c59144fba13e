/**
 * migrations.ts: the store's schema, as an ordered list of migrations. Each one runs in its own
 * transaction and records its version in PRAGMA user_version, so a database is always at exactly
 * one version and a crash mid-upgrade leaves the previous one. A migration, once released, is
 * never edited: a schema change is a new entry at the end.
 *
 * It does not open files or decide whether a file may be migrated (open.ts does), and nothing
 * outside store/ reads these tables.
 *
 * Layout choices (why):
 * - metrics is WITHOUT ROWID with PRIMARY KEY (run_id, key_id, step): appends in step order go
 *   to the right edge of one B-tree (no separate rowid table and index to keep in step), a
 *   series is one contiguous range of that B-tree, and a repeated (run, key, step) is a conflict
 *   that INSERT OR REPLACE resolves instead of a duplicate.
 * - NaN cannot be stored in a REAL (SQLite turns it into NULL), so a non-finite value is stored as
 *   value NULL plus flag 1 (NaN), 2 (+Inf) or 3 (-Inf); flag 0 costs no bytes in a record.
 *   min()/max() skip the NULLs, which is the rule we want: non-finite values never become a min
 *   or a max.
 * - metric_summary (v2) and metric_blocks (v3) are kept up to date on every append so that run
 *   lists never touch metrics and a long series is downsampled from a few thousand block rows
 *   instead of a million points (see metrics.ts).
 * - v4 replaces metrics and metric_blocks by metric_chunks: one row per (run, key, chunk =
 *   floor(step / 256)) with the chunk's points as one packed blob (codec.ts; NaN and +-Inf stored
 *   as themselves, times as Int32 deltas when they are integer ms) and count, first_step,
 *   last_step, min, max (finite values only, NULL if none) and last (NULL = NaN) beside it. A row
 *   per point cost 3-9 us of host CPU per point; a row per chunk, written once per flush, costs
 *   about 0.5 us. It is a rowid table with a UNIQUE (run_id, key_id, chunk) index, not WITHOUT
 *   ROWID: a table leaf holds rows up to ~4 KB, so a full chunk (~3.3 KB) never spills to an
 *   overflow page (an index-format row spills above ~1 KB: one extra page written per chunk per
 *   flush), a chunk is rewritten in place by id without touching the index, and the chunks a
 *   run's keys are filling were created at about the same time, so they share table pages: 19
 *   pages written per 1,000-point, 16-key commit instead of 41. A coarse series is bucketed over
 *   ~4,000 chunk rows per million points, which made metric_blocks unnecessary.
 */
import type Database from 'better-sqlite3';
import { chunkBuilder, decodeValue } from './codec.js';

/** PRAGMA application_id of an lshlab database: 'LSHL'. */
export const APPLICATION_ID = 0x4c53484c;

/** metric_blocks: level L groups the steps [b * 8^L, (b + 1) * 8^L) of one (run, key). */
export const BLOCK_FANOUT = 8;
export const BLOCK_LEVELS = 6; // 8 .. 262,144 steps per block
export const blockSize = (level: number): number => BLOCK_FANOUT ** level;

/**
 * metric_chunks (v4): chunk c of a (run, key) holds its points with steps in [c * C, (c + 1) * C).
 * Fixed by the schema (a different C would be a new migration); at most 256 (Uint8 step offsets).
 * Measured (16 keys/step appends, 1M-point series into 2,000 buckets): C = 64 made rows just over
 * the overflow limit and 3x more rows (append 3x slower, series 55 ms); 128: append ~1.5x slower,
 * series 21 ms; 256: the fastest append, series ~13 ms (a 512-step chunk would leave a 1M-point
 * series fewer chunks than 2,000 buckets, so it would be bucketed point by point).
 */
export const CHUNK_STEPS = 256;

export interface Migration {
  version: number;
  description: string;
  up(db: Database.Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'core tables: datasets, environments, runs, tags, metrics, evaluations, benchmarks, checkpoints',
    up(db) {
      db.exec(`
        CREATE TABLE datasets (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          kind TEXT NOT NULL CHECK (kind IN ('text', 'classification', 'qa')),
          source TEXT NOT NULL,
          format TEXT NOT NULL,
          dir TEXT NOT NULL,
          tokenizer TEXT NOT NULL,
          num_records INTEGER NOT NULL,
          num_tokens INTEGER NOT NULL,
          splits TEXT NOT NULL,
          label_set TEXT NOT NULL,
          stats TEXT NOT NULL,
          sha256 TEXT NOT NULL,
          builtin INTEGER NOT NULL CHECK (builtin IN (0, 1)),
          created_at INTEGER NOT NULL
        );
        CREATE TABLE environments (
          id INTEGER PRIMARY KEY,
          sha256 TEXT NOT NULL UNIQUE,
          json TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        -- AUTOINCREMENT: a removed run's id is never handed out again, so "run 12" in a note or a
        -- shell history cannot silently come to mean another run.
        CREATE TABLE runs (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          uuid TEXT NOT NULL UNIQUE CHECK (length(uuid) = 32),
          name TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'finished', 'failed', 'crashed', 'diverged', 'cancelled')),
          task TEXT NOT NULL CHECK (task IN ('mlm', 'classification', 'qa')),
          dataset_name TEXT NOT NULL,
          dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
          model_config TEXT NOT NULL,
          attention TEXT NOT NULL,
          attention_params TEXT NOT NULL,
          train_config TEXT NOT NULL,
          seed TEXT NOT NULL,
          color TEXT NOT NULL,
          notes TEXT NOT NULL DEFAULT '',
          created_at INTEGER NOT NULL,
          started_at INTEGER,
          ended_at INTEGER,
          error TEXT,
          last_step INTEGER NOT NULL DEFAULT 0,
          environment_id INTEGER REFERENCES environments(id),
          pid INTEGER
        );
        -- ON DELETE SET NULL from datasets would scan runs without it.
        CREATE INDEX runs_dataset ON runs(dataset_id);
        CREATE TABLE run_tags (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          tag TEXT NOT NULL,
          PRIMARY KEY (run_id, tag)
        ) WITHOUT ROWID;
        CREATE TABLE metric_keys (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE
        );
        CREATE TABLE metrics (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          key_id INTEGER NOT NULL,
          step INTEGER NOT NULL,
          value REAL,
          flag INTEGER NOT NULL DEFAULT 0,
          time INTEGER NOT NULL,
          PRIMARY KEY (run_id, key_id, step)
        ) WITHOUT ROWID;
        CREATE TABLE evaluations (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          step INTEGER NOT NULL,
          split TEXT NOT NULL,
          metrics TEXT NOT NULL,
          time INTEGER NOT NULL,
          PRIMARY KEY (run_id, step, split)
        ) WITHOUT ROWID;
        CREATE TABLE benchmarks (
          id INTEGER PRIMARY KEY,
          run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
          kind TEXT NOT NULL,
          config TEXT NOT NULL,
          result TEXT NOT NULL,
          environment_id INTEGER REFERENCES environments(id),
          created_at INTEGER NOT NULL
        );
        CREATE INDEX benchmarks_run ON benchmarks(run_id);
        CREATE TABLE checkpoints (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          step INTEGER NOT NULL,
          path TEXT NOT NULL,
          bytes INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          PRIMARY KEY (run_id, step)
        ) WITHOUT ROWID;
      `);
      // Inside the same transaction as the tables: a file carries our id only once it has our
      // schema (open.ts treats an id-less file with tables as another program's).
      db.pragma(`application_id = ${APPLICATION_ID}`);
    },
  },
  {
    version: 2,
    description: 'metric_summary (per run and key, kept on append) with a backfill; indexes for run lookups',
    up(db) {
      db.exec(`
        CREATE TABLE metric_summary (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          key_id INTEGER NOT NULL,
          count INTEGER NOT NULL,
          last REAL,
          last_flag INTEGER NOT NULL DEFAULT 0,
          last_step INTEGER NOT NULL,
          min REAL,
          min_step INTEGER,
          max REAL,
          max_step INTEGER,
          PRIMARY KEY (run_id, key_id)
        ) WITHOUT ROWID;
        INSERT INTO metric_summary (run_id, key_id, count, last, last_flag, last_step, min, min_step, max, max_step)
        SELECT s.run_id, s.key_id, s.n,
               (SELECT value FROM metrics m WHERE m.run_id = s.run_id AND m.key_id = s.key_id AND m.step = s.hi),
               (SELECT flag FROM metrics m WHERE m.run_id = s.run_id AND m.key_id = s.key_id AND m.step = s.hi),
               s.hi,
               s.mn, (SELECT min(step) FROM metrics m WHERE m.run_id = s.run_id AND m.key_id = s.key_id AND m.value = s.mn),
               s.mx, (SELECT min(step) FROM metrics m WHERE m.run_id = s.run_id AND m.key_id = s.key_id AND m.value = s.mx)
          FROM (SELECT run_id, key_id, count(*) AS n, max(step) AS hi, min(value) AS mn, max(value) AS mx
                  FROM metrics GROUP BY run_id, key_id) s;
        CREATE INDEX runs_status ON runs(status);
        CREATE INDEX runs_name ON runs(name);
        CREATE INDEX run_tags_tag ON run_tags(tag);
      `);
    },
  },
  {
    version: 3,
    description: 'metric_blocks: per-level step blocks (8^1 .. 8^6 steps) for fast downsampled series, with a backfill',
    up(db) {
      db.exec(`
        CREATE TABLE metric_blocks (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          key_id INTEGER NOT NULL,
          level INTEGER NOT NULL,
          block INTEGER NOT NULL,
          count INTEGER NOT NULL,
          first_step INTEGER NOT NULL,
          last_step INTEGER NOT NULL,
          min REAL,
          max REAL,
          PRIMARY KEY (run_id, key_id, level, block)
        ) WITHOUT ROWID;
      `);
      const fill = db.prepare(`
        INSERT INTO metric_blocks (run_id, key_id, level, block, count, first_step, last_step, min, max)
        SELECT run_id, key_id, @level, step / @size, count(*), min(step), max(step), min(value), max(value)
          FROM metrics GROUP BY run_id, key_id, step / @size`);
      // BigInt so that step / @size is integer division (a JS number binds as REAL).
      for (let level = 1; level <= BLOCK_LEVELS; level++) fill.run({ level: BigInt(level), size: BigInt(blockSize(level)) });
    },
  },
  {
    version: 4,
    description: 'metric_chunks: points packed into one row per (run, key, 256-step chunk), replacing metrics and metric_blocks',
    up(db) {
      db.exec(`
        CREATE TABLE metric_chunks (
          id INTEGER PRIMARY KEY,
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          key_id INTEGER NOT NULL,
          chunk INTEGER NOT NULL,
          count INTEGER NOT NULL,
          first_step INTEGER NOT NULL,
          last_step INTEGER NOT NULL,
          min REAL,
          max REAL,
          last REAL,
          data BLOB NOT NULL
        );
        CREATE UNIQUE INDEX metric_chunks_key ON metric_chunks(run_id, key_id, chunk);
      `);
      // better-sqlite3 runs nothing else while an iterator is open, so the old points are read a
      // page at a time per (run, key), in step order, and written chunk by chunk.
      const pairs = db.prepare(`SELECT DISTINCT run_id, key_id FROM metrics ORDER BY run_id, key_id`).raw().all() as [number, number][];
      const page = db
        .prepare(`SELECT step, value, flag, time FROM metrics WHERE run_id = ? AND key_id = ? AND step >= ? ORDER BY step LIMIT 65536`)
        .raw();
      const put = db.prepare(`
        INSERT INTO metric_chunks (run_id, key_id, chunk, count, first_step, last_step, min, max, last, data)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      const C = CHUNK_STEPS;
      for (const [run, key] of pairs) {
        let cur = -1;
        let steps: number[] = [];
        let vals: number[] = [];
        let times: number[] = [];
        const flush = (): void => {
          const n = steps.length;
          if (n === 0) return;
          const b = chunkBuilder(n);
          let mn: number | null = null;
          let mx: number | null = null;
          for (let i = 0; i < n; i++) {
            b.offs[i] = steps[i] - cur * C;
            const v = vals[i];
            b.vals[i] = v;
            b.times[i] = times[i];
            if (Number.isFinite(v)) {
              if (mn === null || v < mn) mn = v;
              if (mx === null || v > mx) mx = v;
            }
          }
          const last = vals[n - 1];
          put.run(run, key, cur, n, steps[0], steps[n - 1], mn, mx, Number.isNaN(last) ? null : last, b.finish());
          steps = [];
          vals = [];
          times = [];
        };
        for (let from = 0; ; ) {
          const rows = page.all(run, key, from) as [number, number | null, number, number][];
          for (const [step, value, flag, time] of rows) {
            const c = Math.floor(step / C);
            if (c !== cur) {
              flush();
              cur = c;
            }
            steps.push(step);
            vals.push(decodeValue(value, flag));
            times.push(time);
          }
          if (rows.length < 65536) break;
          from = rows[rows.length - 1][0] + 1;
        }
        flush();
      }
      db.exec(`DROP TABLE metric_blocks; DROP TABLE metrics;`);
    },
  },
  {
    version: 5,
    description: 'runs: device, threads, owner, cancel_requested_at (many hosts per lab, cancel from any process)',
    up(db) {
      // Liveness moved from one lab-wide host lock to an OS lock per run (training/run-owner.ts);
      // these columns are what other processes need to see of a run they do not host.
      db.exec(`
        ALTER TABLE runs ADD COLUMN device TEXT NOT NULL DEFAULT 'cpu';
        ALTER TABLE runs ADD COLUMN threads INTEGER;
        ALTER TABLE runs ADD COLUMN owner TEXT;
        ALTER TABLE runs ADD COLUMN cancel_requested_at INTEGER;
      `);
    },
  },
  {
    version: 6,
    description: 'studies and study_runs: named grids of runs (variants x seeds x stages), resumable',
    up(db) {
      // study_runs holds one row per cell of a study's grid that has been claimed at least once.
      // run_id is the cell's current run (SET NULL if that run is removed: the cell runs again);
      // attempts counts the starts that count against the retry limit (lab/study-runner.ts).
      // The UNIQUE key is what makes two `study run` processes unable to record a cell twice.
      db.exec(`
        CREATE TABLE studies (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          name TEXT NOT NULL UNIQUE,
          definition TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE study_runs (
          study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
          stage INTEGER NOT NULL CHECK (stage >= 0),
          variant TEXT NOT NULL,
          seed TEXT NOT NULL,
          run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
          attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
          updated_at INTEGER NOT NULL,
          UNIQUE (study_id, stage, variant, seed)
        );
        -- ON DELETE SET NULL from runs would scan study_runs without it.
        CREATE INDEX study_runs_run ON study_runs(run_id);
      `);
    },
  },
  {
    version: 7,
    description: 'evaluation_summary: per run, split and evaluation metric, its count and best values (kept on add), with a backfill',
    up(db) {
      // What metric_summary is for training metrics, for evaluations: run lists sort and show the
      // best evaluation loss and accuracy of 10,000 runs from one join, never parsing the
      // evaluations' JSON. min/max are over finite values only (NULL when there is none); their
      // steps are the first step reaching them. Rebuilt per (run, split) on every add
      // (records.ts), so a replaced evaluation never leaves a stale extreme behind.
      db.exec(`
        CREATE TABLE evaluation_summary (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          split TEXT NOT NULL,
          key TEXT NOT NULL,
          count INTEGER NOT NULL,
          min REAL,
          min_step INTEGER,
          max REAL,
          max_step INTEGER,
          PRIMARY KEY (run_id, split, key)
        ) WITHOUT ROWID;
        INSERT INTO evaluation_summary (run_id, split, key, count, min, min_step, max, max_step)
        SELECT run_id, split, key, count(*), min(x), min(CASE WHEN x = lo THEN step END), max(x), min(CASE WHEN x = hi THEN step END)
          FROM (SELECT e.run_id, e.split, j.key, e.step,
                       CASE WHEN j.type IN ('integer', 'real') THEN j.value END AS x,
                       min(CASE WHEN j.type IN ('integer', 'real') THEN j.value END) OVER w AS lo,
                       max(CASE WHEN j.type IN ('integer', 'real') THEN j.value END) OVER w AS hi
                  FROM evaluations e, json_each(e.metrics) j
                WINDOW w AS (PARTITION BY e.run_id, e.split, j.key))
         GROUP BY run_id, split, key;
      `);
    },
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Applies every migration above the database's user_version, each in one IMMEDIATE transaction
 * that re-reads the version first (two processes opening a fresh file at once must not both run
 * migration 1). `upTo` stops early (tests build old versions with it). Returns the new version.
 */
export function migrate(db: Database.Database, upTo = LATEST_VERSION): number {
  // Up to date (every open but the first): no write lock, so a CLI open never queues behind the
  // host's appends.
  if ((db.pragma('user_version', { simple: true }) as number) >= upTo) return db.pragma('user_version', { simple: true }) as number;
  for (const m of MIGRATIONS) {
    if (m.version > upTo) break;
    db.transaction(() => {
      const current = db.pragma('user_version', { simple: true }) as number;
      if (current >= m.version) return;
      if (current !== m.version - 1) throw new Error(`schema ${current} cannot be migrated to ${m.version}`);
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return db.pragma('user_version', { simple: true }) as number;
}
