/**
 * studies.ts: the studies table (a named, normalized study definition) and study_runs (one row
 * per claimed cell of a study's grid: stage, variant, seed -> its current run and how many starts
 * counted). The claim is a read-decide-write in one IMMEDIATE transaction so that two `study run`
 * processes on one lab never both start the same cell; what to decide (retry, give up, skip) is
 * lab/study-runner.ts's policy, passed in as a function. Nothing here starts runs or reads files.
 */
import type Database from 'better-sqlite3';
import { checkInt, checkName, jsonObject } from './codec.js';
import type { LabStore, RunStatus, StudyCellKey, StudyCellPatch, StudyCellRow, StudyRow } from './types.js';

/** Study names: they appear in run names, tags (study:NAME) and directory names. */
export const STUDY_NAME_RE = /^[A-Za-z0-9._-]{1,48}$/;

type CellSql = [number, number, string, string, number | null, number, number, string | null, string | null];

const CELL_SELECT = `
  SELECT c.study_id, c.stage, c.variant, c.seed, c.run_id, c.attempts, c.updated_at, r.status, r.error
    FROM study_runs c LEFT JOIN runs r ON r.id = c.run_id`;

function toCell(r: CellSql): StudyCellRow {
  return {
    studyId: r[0],
    stage: r[1],
    variant: r[2],
    seed: r[3],
    runId: r[4],
    attempts: r[5],
    updatedAt: r[6],
    runStatus: r[7] as RunStatus | null,
    runError: r[8],
  };
}

function checkKey(key: StudyCellKey): void {
  checkInt('study stage', key.stage);
  checkName('study variant', key.variant, 64);
  if (!/^\d{1,20}$/.test(key.seed)) throw new RangeError(`study seed must be a decimal integer, got '${key.seed}'`);
}

export function studiesApi(db: Database.Database): LabStore['studies'] {
  const insert = db.prepare(`INSERT INTO studies (name, definition, created_at) VALUES (?, ?, ?)`);
  const byName = db.prepare(`SELECT id, name, definition, created_at FROM studies WHERE name = ?`).raw();
  const all = db.prepare(`SELECT id, name, definition, created_at FROM studies ORDER BY id`).raw();
  const del = db.prepare(`DELETE FROM studies WHERE name = ?`);
  const cells = db.prepare(`${CELL_SELECT} WHERE c.study_id = ? ORDER BY c.stage, c.variant, c.seed`).raw();
  const cell = db.prepare(`${CELL_SELECT} WHERE c.study_id = ? AND c.stage = ? AND c.variant = ? AND c.seed = ?`).raw();
  const insertCell = db.prepare(
    `INSERT OR IGNORE INTO study_runs (study_id, stage, variant, seed, run_id, attempts, updated_at) VALUES (?, ?, ?, ?, NULL, 0, ?)`,
  );
  const patchCell = db.prepare(`
    UPDATE study_runs SET attempts = @attempts, run_id = @runId, updated_at = @now
     WHERE study_id = @studyId AND stage = @stage AND variant = @variant AND seed = @seed`);

  const toStudy = (r: [number, string, string, number]): StudyRow => ({
    id: r[0],
    name: r[1],
    definition: JSON.parse(r[2]) as Record<string, unknown>,
    createdAt: r[3],
  });
  const readCell = (studyId: number, k: StudyCellKey): StudyCellRow | undefined => {
    const r = cell.get(studyId, k.stage, k.variant, k.seed) as CellSql | undefined;
    return r ? toCell(r) : undefined;
  };
  const write = (studyId: number, k: StudyCellKey, current: StudyCellRow, p: StudyCellPatch): void => {
    const attempts = p.attempts ?? current.attempts;
    checkInt('study cell attempts', attempts);
    patchCell.run({ attempts, runId: p.runId !== undefined ? p.runId : current.runId, now: Date.now(), studyId, ...k });
  };

  const claimTx = db.transaction(<T>(studyId: number, k: StudyCellKey, decide: (c: StudyCellRow) => { patch?: StudyCellPatch; result: T }): T => {
    insertCell.run(studyId, k.stage, k.variant, k.seed, Date.now());
    const current = readCell(studyId, k) as StudyCellRow;
    const { patch, result } = decide(current);
    if (patch) write(studyId, k, current, patch);
    return result;
  });

  return {
    create(name, definition) {
      if (!STUDY_NAME_RE.test(name)) throw new RangeError(`study name '${name}' must be 1-48 of A-Z a-z 0-9 . _ -`);
      if (byName.get(name)) throw new RangeError(`a study named '${name}' already exists`);
      const createdAt = Date.now();
      const id = Number(insert.run(name, jsonObject('study definition', definition), createdAt).lastInsertRowid);
      return { id, name, definition: JSON.parse(JSON.stringify(definition)) as Record<string, unknown>, createdAt };
    },
    get(name) {
      const r = byName.get(name) as [number, string, string, number] | undefined;
      return r ? toStudy(r) : undefined;
    },
    list: () => (all.all() as [number, string, string, number][]).map(toStudy),
    remove: (name) => del.run(name).changes > 0,
    cells: (studyId) => (cells.all(studyId) as CellSql[]).map(toCell),
    claim(studyId, key, decide) {
      checkKey(key);
      return claimTx.immediate(studyId, key, decide) as ReturnType<typeof decide>['result'];
    },
    link(studyId, key, runId) {
      checkKey(key);
      checkInt('run id', runId, 1);
      const current = readCell(studyId, key);
      if (!current) throw new RangeError(`study ${studyId} has no cell (stage ${key.stage}, ${key.variant}, seed ${key.seed}) to link`);
      write(studyId, key, current, { runId });
      return readCell(studyId, key) as StudyCellRow;
    },
  };
}
