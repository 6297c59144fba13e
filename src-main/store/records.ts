/**
 * records.ts: the smaller tables that hang off runs: evaluations (per step and split, with their
 * per-metric best values in evaluation_summary), benchmarks (optionally tied to a run), environments (hardware/software descriptions stored once
 * by content hash) and checkpoints (where a run's saved state lies). They only record; nothing
 * here reads or writes checkpoint files or runs a benchmark.
 */
import * as crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { checkInt, checkName, jsonObject, parseNumbers, stringifyNumbers } from './codec.js';
import type { BenchmarkRow, CheckpointRow, EvaluationRow, LabStore } from './types.js';

/** JSON with object keys sorted at every depth, so equal environments hash equally. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function evaluationsApi(db: Database.Database): LabStore['evaluations'] {
  // Same (run, step, split) twice: the later evaluation wins (a resumed run re-evaluating).
  const add = db.prepare(`INSERT OR REPLACE INTO evaluations (run_id, step, split, metrics, time) VALUES (?, ?, ?, ?, ?)`);
  const list = db.prepare(`SELECT run_id, step, split, metrics, time FROM evaluations WHERE run_id = ? ORDER BY step, split`).raw();
  // evaluation_summary of one (run, split), rebuilt from its evaluations (a run has tens to
  // hundreds, evaluated every few hundred steps): exact even when an evaluation was replaced.
  // min/max over finite values only ("NaN" is stored as a JSON string); their steps are the
  // first reaching them. Same rule as migration 7's backfill.
  const clearSummary = db.prepare(`DELETE FROM evaluation_summary WHERE run_id = ? AND split = ?`);
  const fillSummary = db.prepare(`
    INSERT INTO evaluation_summary (run_id, split, key, count, min, min_step, max, max_step)
    SELECT run_id, split, key, count(*), min(x), min(CASE WHEN x = lo THEN step END), max(x), min(CASE WHEN x = hi THEN step END)
      FROM (SELECT e.run_id, e.split, j.key, e.step,
                   CASE WHEN j.type IN ('integer', 'real') THEN j.value END AS x,
                   min(CASE WHEN j.type IN ('integer', 'real') THEN j.value END) OVER w AS lo,
                   max(CASE WHEN j.type IN ('integer', 'real') THEN j.value END) OVER w AS hi
              FROM evaluations e, json_each(e.metrics) j
             WHERE e.run_id = @run AND e.split = @split
            WINDOW w AS (PARTITION BY j.key))
     GROUP BY key`);
  const addTx = db.transaction((runId: number, step: number, split: string, json: string) => {
    add.run(runId, step, split, json, Date.now());
    clearSummary.run(runId, split);
    fillSummary.run({ run: runId, split });
  });
  return {
    add(runId, step, split, metrics) {
      checkInt('evaluation step', step);
      checkName('evaluation split', split, 64);
      for (const [k, v] of Object.entries(metrics)) if (typeof v !== 'number') throw new TypeError(`evaluation metric '${k}' must be a number`);
      addTx.immediate(runId, step, split, stringifyNumbers(metrics));
    },
    list(runId): EvaluationRow[] {
      return (list.all(runId) as [number, number, string, string, number][]).map((r) => ({
        runId: r[0],
        step: r[1],
        split: r[2],
        metrics: parseNumbers(r[3]),
        time: r[4],
      }));
    },
  };
}

interface BenchmarkSql {
  id: number;
  run_id: number | null;
  kind: string;
  config: string;
  result: string;
  environment_id: number | null;
  created_at: number;
}

const toBenchmark = (r: BenchmarkSql): BenchmarkRow => ({
  id: r.id,
  runId: r.run_id,
  kind: r.kind,
  config: JSON.parse(r.config) as Record<string, unknown>,
  result: JSON.parse(r.result) as Record<string, unknown>,
  environmentId: r.environment_id,
  createdAt: r.created_at,
});

export function benchmarksApi(db: Database.Database): LabStore['benchmarks'] {
  const add = db.prepare(`
    INSERT INTO benchmarks (run_id, kind, config, result, environment_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`);
  const byId = db.prepare(`SELECT * FROM benchmarks WHERE id = ?`);
  const list = db.prepare(`
    SELECT * FROM benchmarks WHERE (@runId IS NULL OR run_id = @runId) AND (@kind IS NULL OR kind = @kind) ORDER BY id DESC`);
  return {
    add(b) {
      const info = add.run(
        b.runId ?? null,
        checkName('benchmark kind', b.kind, 100),
        jsonObject('benchmark config', b.config),
        jsonObject('benchmark result', b.result),
        b.environmentId ?? null,
        Date.now(),
      );
      return toBenchmark(byId.get(info.lastInsertRowid) as BenchmarkSql);
    },
    /** Newest first. */
    list(filter = {}) {
      return (list.all({ runId: filter.runId ?? null, kind: filter.kind ?? null }) as BenchmarkSql[]).map(toBenchmark);
    },
  };
}

export function environmentsApi(db: Database.Database): LabStore['environments'] {
  const ins = db.prepare(`INSERT OR IGNORE INTO environments (sha256, json, created_at) VALUES (?, ?, ?)`);
  const bySha = db.prepare(`SELECT id FROM environments WHERE sha256 = ?`).pluck();
  const byId = db.prepare(`SELECT json FROM environments WHERE id = ?`).pluck();
  return {
    record(env) {
      const json = canonicalJson(env);
      if (!json.startsWith('{')) throw new TypeError('environment must be an object');
      const sha = crypto.createHash('sha256').update(json).digest('hex');
      ins.run(sha, json, Date.now());
      return bySha.get(sha) as number;
    },
    get(id) {
      const j = byId.get(id) as string | undefined;
      return j === undefined ? undefined : (JSON.parse(j) as Record<string, unknown>);
    },
  };
}

export function checkpointsApi(db: Database.Database): LabStore['checkpoints'] {
  // A step saved again (resume) replaces the older row: one checkpoint per step.
  const add = db.prepare(`INSERT OR REPLACE INTO checkpoints (run_id, step, path, bytes, created_at) VALUES (?, ?, ?, ?, ?)`);
  const list = db.prepare(`SELECT run_id, step, path, bytes, created_at FROM checkpoints WHERE run_id = ? ORDER BY step`).raw();
  const latest = db
    .prepare(`SELECT run_id, step, path, bytes, created_at FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1`)
    .raw();
  const toRow = (r: [number, number, string, number, number]): CheckpointRow => ({
    runId: r[0],
    step: r[1],
    path: r[2],
    bytes: r[3],
    createdAt: r[4],
  });
  return {
    add(c) {
      add.run(c.runId, checkInt('checkpoint step', c.step), checkName('checkpoint path', c.path, 4096), checkInt('checkpoint bytes', c.bytes), Date.now());
    },
    list: (runId) => (list.all(runId) as [number, number, string, number, number][]).map(toRow),
    latest(runId) {
      const r = latest.get(runId) as [number, number, string, number, number] | undefined;
      return r && toRow(r);
    },
  };
}
