/**
 * datasets.ts: the datasets table: one row per imported (or built-in) dataset, naming its
 * directory and token cache. It records what data/ and lab/ computed; it does not read, import or
 * delete any dataset files (removing the row leaves the directory to the caller).
 */
import type Database from 'better-sqlite3';
import { checkInt, jsonObject } from './codec.js';
import type { DatasetRow, LabStore, NewDataset } from './types.js';

interface DatasetSql {
  id: number;
  name: string;
  kind: DatasetRow['kind'];
  source: string;
  format: string;
  dir: string;
  tokenizer: string;
  num_records: number;
  num_tokens: number;
  splits: string;
  label_set: string;
  stats: string;
  sha256: string;
  builtin: number;
  created_at: number;
}

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const KINDS = new Set(['text', 'classification', 'qa']);

function toRow(r: DatasetSql): DatasetRow {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    source: r.source,
    format: r.format,
    dir: r.dir,
    tokenizer: r.tokenizer,
    numRecords: r.num_records,
    numTokens: r.num_tokens,
    splits: JSON.parse(r.splits) as Record<string, number>,
    labelSet: JSON.parse(r.label_set) as string[],
    stats: JSON.parse(r.stats) as Record<string, unknown>,
    sha256: r.sha256,
    builtin: r.builtin === 1,
    createdAt: r.created_at,
  };
}

export function datasetsApi(db: Database.Database): LabStore['datasets'] {
  const insert = db.prepare(`
    INSERT INTO datasets (name, kind, source, format, dir, tokenizer, num_records, num_tokens, splits, label_set, stats, sha256, builtin, created_at)
    VALUES (@name, @kind, @source, @format, @dir, @tokenizer, @numRecords, @numTokens, @splits, @labelSet, @stats, @sha256, @builtin, @createdAt)`);
  const byName = db.prepare(`SELECT * FROM datasets WHERE name = ?`);
  const byId = db.prepare(`SELECT * FROM datasets WHERE id = ?`);
  const all = db.prepare(`SELECT * FROM datasets ORDER BY name`);
  const del = db.prepare(`DELETE FROM datasets WHERE name = ?`);

  return {
    insert(d: NewDataset): DatasetRow {
      if (typeof d.name !== 'string' || !NAME_RE.test(d.name)) {
        throw new RangeError(`dataset name '${String(d.name)}' must be 1-64 characters of A-Z a-z 0-9 . _ -`);
      }
      if (!KINDS.has(d.kind)) throw new RangeError(`dataset kind '${String(d.kind)}' is not text, classification or qa`);
      if (!Array.isArray(d.labelSet)) throw new TypeError('dataset labelSet must be an array');
      if (byName.get(d.name)) throw new Error(`dataset '${d.name}' already exists`);
      const info = insert.run({
        name: d.name,
        kind: d.kind,
        source: String(d.source),
        format: String(d.format),
        dir: String(d.dir),
        tokenizer: String(d.tokenizer),
        numRecords: checkInt('dataset numRecords', d.numRecords),
        numTokens: checkInt('dataset numTokens', d.numTokens),
        splits: jsonObject('dataset splits', d.splits),
        labelSet: JSON.stringify(d.labelSet.map(String)),
        stats: jsonObject('dataset stats', d.stats),
        sha256: String(d.sha256),
        builtin: d.builtin ? 1 : 0,
        createdAt: Date.now(),
      });
      return toRow(byId.get(info.lastInsertRowid) as DatasetSql);
    },
    get(name: string): DatasetRow | undefined {
      const r = byName.get(name) as DatasetSql | undefined;
      return r && toRow(r);
    },
    list(): DatasetRow[] {
      return (all.all() as DatasetSql[]).map(toRow);
    },
    remove(name: string): boolean {
      // runs.dataset_id becomes NULL through ON DELETE SET NULL; runs keep dataset_name.
      return del.run(name).changes > 0;
    },
  };
}
