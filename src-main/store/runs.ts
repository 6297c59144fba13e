/**
 * runs.ts: the runs table and its tags: create, look up (by id, uuid prefix or name), list, patch,
 * tag, remove; record and read cancel requests (a cancel may come from any process); mark one active
 * run crashed once its owner is known to be dead (training/run-owner.ts decides that).
 *
 * Listing never touches metrics (runs.last_step is kept by metrics.append), so it costs the same
 * with 10 points or 10 million. It does not decide which status changes are allowed (the run host
 * and lab/ do: the store would let a resumed run go back to 'running') and does not delete run
 * directories on disk.
 */
import * as crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { checkInt, checkName, jsonObject } from './codec.js';
import { RUN_STATUSES, type LabStore, type NewRun, type RunFilter, type RunPatch, type RunRow, type RunStatus } from './types.js';

/** Chart colours (Tableau 10), handed out round-robin by run id to runs created without one. */
export const RUN_PALETTE: readonly string[] = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
];
export const paletteColor = (id: number): string => RUN_PALETTE[(((id - 1) % RUN_PALETTE.length) + RUN_PALETTE.length) % RUN_PALETTE.length];

const TASKS = new Set(['mlm', 'classification', 'qa']);
const STATUSES = new Set<string>(RUN_STATUSES);
/** Separates tags in the GROUP_CONCAT below; checkName forbids control characters in tags. */
const TAG_SEP = '\x1f';

/**
 * Rows come back as arrays (better-sqlite3's raw mode): building an object per row with named
 * columns cost ~4x more than the query itself for 10k runs. COLUMNS and toRow must agree.
 */
const COLUMNS = [
  'id', 'uuid', 'name', 'status', 'task', 'dataset_name', 'dataset_id', 'model_config', 'attention', 'attention_params',
  'train_config', 'seed', 'color', 'notes', 'created_at', 'started_at', 'ended_at', 'error', 'last_step', 'environment_id', 'pid',
  'device', 'threads', 'owner', 'cancel_requested_at',
] as const;
const TAGS_COL = COLUMNS.length;
type RunSql = unknown[];

function toRow(r: RunSql): RunRow {
  const tags = r[TAGS_COL] as string | null;
  return {
    id: r[0] as number,
    uuid: r[1] as string,
    name: r[2] as string,
    status: r[3] as RunStatus,
    task: r[4] as RunRow['task'],
    datasetName: r[5] as string,
    datasetId: r[6] as number | null,
    modelConfig: JSON.parse(r[7] as string) as Record<string, unknown>,
    attention: r[8] as string,
    attentionParams: JSON.parse(r[9] as string) as Record<string, string | number>,
    trainConfig: JSON.parse(r[10] as string) as Record<string, unknown>,
    seed: r[11] as string,
    color: r[12] as string,
    notes: r[13] as string,
    tags: tags ? tags.split(TAG_SEP) : [],
    createdAt: r[14] as number,
    startedAt: r[15] as number | null,
    endedAt: r[16] as number | null,
    error: r[17] as string | null,
    lastStep: r[18] as number,
    environmentId: r[19] as number | null,
    pid: r[20] as number | null,
    device: r[21] as string,
    threads: r[22] as number | null,
    owner: r[23] as string | null,
    cancelRequestedAt: r[24] as number | null,
  };
}

const SELECT = `
  SELECT ${COLUMNS.map((c) => `r.${c}`).join(', ')},
         (SELECT group_concat(t.tag, char(31) ORDER BY t.tag) FROM run_tags t WHERE t.run_id = r.id) AS tags
    FROM runs r`;
// One statement for every filter: scanning 10k runs costs a few milliseconds, small next to
// decoding the rows, so per-combination statements (and their index choices) would buy little.
const WHERE = `
   WHERE (@status IS NULL OR r.status = @status)
     AND (@attention IS NULL OR r.attention = @attention)
     AND (@tag IS NULL OR EXISTS (SELECT 1 FROM run_tags x WHERE x.run_id = r.id AND x.tag = @tag))`;

/** RunPatch field -> column, and how to check its value. */
const PATCH: Record<keyof RunPatch, { col: string; check: (v: unknown) => unknown }> = {
  name: { col: 'name', check: (v) => checkName('run name', v) },
  color: { col: 'color', check: (v) => checkName('run color', v, 64) },
  notes: { col: 'notes', check: (v) => (typeof v === 'string' ? v : fail('run notes must be a string')) },
  status: { col: 'status', check: (v) => (STATUSES.has(v as string) ? v : fail(`run status '${String(v)}' is not one of ${RUN_STATUSES.join(', ')}`)) },
  startedAt: { col: 'started_at', check: nullableInt('run startedAt') },
  endedAt: { col: 'ended_at', check: nullableInt('run endedAt') },
  error: { col: 'error', check: (v) => (v === null || typeof v === 'string' ? v : fail('run error must be a string or null')) },
  pid: { col: 'pid', check: nullableInt('run pid') },
  environmentId: { col: 'environment_id', check: nullableInt('run environmentId') },
  owner: { col: 'owner', check: (v) => (v === null || typeof v === 'string' ? v : fail('run owner must be a string or null')) },
};

function fail(msg: string): never {
  throw new RangeError(msg);
}
function nullableInt(what: string): (v: unknown) => unknown {
  return (v) => (v === null ? null : checkInt(what, v));
}

function checkTags(tags: unknown): string[] {
  if (!Array.isArray(tags)) throw new TypeError('tags must be an array of strings');
  return tags.map((t) => checkName('tag', t, 64).trim());
}

export function runsApi(db: Database.Database): LabStore['runs'] {
  const insert = db.prepare(`
    INSERT INTO runs (uuid, name, status, task, dataset_name, dataset_id, model_config, attention, attention_params,
                      train_config, seed, color, notes, created_at, device, threads, owner)
    VALUES (@uuid, @name, @status, @task, @datasetName, @datasetId, @modelConfig, @attention, @attentionParams,
            @trainConfig, @seed, @color, @notes, @createdAt, @device, @threads, @owner)`);
  const liveOnDevice = db.prepare(`SELECT count(*) FROM runs WHERE status = 'running' AND device = ?`).pluck();
  const setColor = db.prepare(`UPDATE runs SET color = ? WHERE id = ?`);
  const byId = db.prepare(`${SELECT} WHERE r.id = ?`).raw();
  const exists = db.prepare(`SELECT 1 FROM runs WHERE id = ?`).pluck();
  const byUuidRange = db.prepare(`SELECT id FROM runs WHERE uuid >= ? AND uuid <= ? ORDER BY uuid LIMIT 2`).pluck();
  const byName = db.prepare(`SELECT id FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1`).pluck();
  const list = db.prepare(`${SELECT} ${WHERE} ORDER BY r.id DESC LIMIT @limit OFFSET @offset`).raw();
  const count = db.prepare(`SELECT count(*) FROM runs r ${WHERE}`).pluck();
  // Other orders: the page's ids are chosen on the bare table, then only those rows are decoded
  // (ordering the full SELECT would build the tag list of every run first: 14 ms at 10,000 runs; 1.7 ms this way).
  const ordered = new Map<string, Database.Statement>();
  const orderedList = (o: NonNullable<RunFilter['order']>): Database.Statement => {
    const key = `${o.by} ${o.dir}`;
    let st = ordered.get(key);
    if (!st) {
      const by = `${o.by === 'id' ? 'r.id' : 'r.created_at'} ${o.dir === 'asc' ? 'ASC' : 'DESC'}, r.id DESC`;
      st = db.prepare(`${SELECT} WHERE r.id IN (SELECT r.id FROM runs r ${WHERE} ORDER BY ${by} LIMIT @limit OFFSET @offset) ORDER BY ${by}`).raw();
      ordered.set(key, st);
    }
    return st;
  };
  const addTag = db.prepare(`INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)`);
  const delTag = db.prepare(`DELETE FROM run_tags WHERE run_id = ? AND tag = ?`);
  const del = db.prepare(`DELETE FROM runs WHERE id = ?`);
  // Conditional on the status: the owner may have finished the run between a caller's read and
  // this write; a final status is never overwritten.
  const crash = db.prepare(`
    UPDATE runs SET status = 'crashed', error = @reason, ended_at = @now, pid = NULL
     WHERE id = @id AND status IN ('running', 'queued')`);
  const requestCancel = db.prepare(`
    UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, ?) WHERE id = ? AND status IN ('running', 'queued')`);
  const active = db.prepare(`${SELECT} WHERE r.status IN ('running', 'queued') ORDER BY r.id`).raw();
  /** UPDATE statements by the set of patched columns, prepared on first use. */
  const updates = new Map<string, Database.Statement>();

  const get = (id: number): RunRow | undefined => {
    const r = byId.get(id) as RunSql | undefined;
    return r && toRow(r);
  };
  const must = (id: number): RunRow => {
    const r = get(id);
    if (!r) throw new RangeError(`no run with id ${id}`);
    return r;
  };
  const filterParams = (f: RunFilter = {}) => ({
    status: f.status ?? null,
    attention: f.attention ?? null,
    tag: f.tag ?? null,
  });

  const tagTx = db.transaction((id: number, tags: string[], add: boolean) => {
    if (!exists.get(id)) throw new RangeError(`no run with id ${id}`);
    for (const t of tags) (add ? addTag : delTag).run(id, t);
  });

  const create = db.transaction((r: NewRun): number => {
    const status = r.status ?? 'queued';
    if (!STATUSES.has(status)) fail(`run status '${String(status)}' is not one of ${RUN_STATUSES.join(', ')}`);
    if (!TASKS.has(r.task)) fail(`run task '${String(r.task)}' is not mlm, classification or qa`);
    if (typeof r.seed !== 'string' || !/^\d+$/.test(r.seed)) fail(`run seed must be a decimal string, got '${String(r.seed)}'`);
    const tags = checkTags(r.tags ?? []);
    if (r.uuid !== undefined && !/^[0-9a-f]{32}$/.test(r.uuid)) fail(`run uuid must be 32 lowercase hex digits, got '${r.uuid}'`);
    const device = checkName('run device', r.device ?? 'cpu', 64);
    let threads = r.threads === undefined || r.threads === null ? null : checkInt('run threads', r.threads);
    // Read and insert in one IMMEDIATE transaction: hosts starting at the same moment see each
    // other's runs, so their shares add up to the cores.
    if (threads === null && r.shareCores !== undefined) {
      const cores = checkInt('shareCores', r.shareCores);
      threads = Math.max(1, Math.floor(cores / ((liveOnDevice.get(device) as number) + 1)));
    }
    const info = insert.run({
      uuid: r.uuid ?? crypto.randomBytes(16).toString('hex'),
      device,
      threads,
      owner: r.owner ?? null,
      name: checkName('run name', r.name),
      status,
      task: r.task,
      datasetName: String(r.datasetName),
      datasetId: r.datasetId ?? null,
      modelConfig: jsonObject('run modelConfig', r.modelConfig),
      attention: checkName('run attention', r.attention, 64),
      attentionParams: jsonObject('run attentionParams', r.attentionParams),
      trainConfig: jsonObject('run trainConfig', r.trainConfig),
      seed: r.seed,
      color: r.color === undefined ? '' : checkName('run color', r.color, 64),
      notes: r.notes ?? '',
      createdAt: Date.now(),
    });
    const id = Number(info.lastInsertRowid);
    // The id is known only after the insert; same transaction, so no reader sees ''.
    if (r.color === undefined) setColor.run(paletteColor(id), id);
    for (const t of tags) addTag.run(id, t);
    return id;
  });

  return {
    create: (r) => must(create.immediate(r)),
    get,
    resolve(ref: string): RunRow | undefined {
      const s = ref.trim();
      if (/^\d+$/.test(s)) {
        const r = get(Number(s));
        if (r) return r;
      }
      let ambiguous = false;
      if (/^[0-9a-f]{6,32}$/i.test(s)) {
        const p = s.toLowerCase();
        const ids = byUuidRange.all(p, p.padEnd(32, 'f')) as number[];
        if (ids.length === 1) return get(ids[0]);
        ambiguous = ids.length > 1;
      }
      const id = byName.get(s) as number | undefined;
      if (id !== undefined) return get(id);
      if (ambiguous) throw new RangeError(`run '${s}' is ambiguous: several run uuids start with it; give more digits`);
      return undefined;
    },
    list(filter: RunFilter = {}): RunRow[] {
      const limit = filter.limit === undefined ? -1 : checkInt('limit', filter.limit);
      const offset = filter.offset === undefined ? 0 : checkInt('offset', filter.offset);
      const st = filter.order && !(filter.order.by === 'id' && filter.order.dir === 'desc') ? orderedList(filter.order) : list;
      return (st.all({ ...filterParams(filter), limit, offset }) as RunSql[]).map(toRow);
    },
    count: (filter?: RunFilter) => count.get(filterParams(filter)) as number,
    update(id: number, patch: RunPatch): RunRow {
      const keys = (Object.keys(patch) as (keyof RunPatch)[]).filter((k) => patch[k] !== undefined).sort();
      for (const k of keys) if (!(k in PATCH)) throw new RangeError(`run field '${String(k)}' cannot be patched`);
      if (keys.length > 0) {
        const sig = keys.join(',');
        let st = updates.get(sig);
        if (!st) {
          st = db.prepare(`UPDATE runs SET ${keys.map((k) => `${PATCH[k].col} = @${k}`).join(', ')} WHERE id = @id`);
          updates.set(sig, st);
        }
        const params: Record<string, unknown> = { id };
        for (const k of keys) params[k] = PATCH[k].check(patch[k]);
        if (st.run(params).changes === 0) throw new RangeError(`no run with id ${id}`);
      }
      return must(id);
    },
    addTags: (id, tags) => tagTx.immediate(id, checkTags(tags), true),
    removeTags: (id, tags) => tagTx.immediate(id, tags.map((t) => String(t).trim()), false),
    // metrics, summaries, blocks, tags, evaluations, benchmarks and checkpoints go by ON DELETE CASCADE.
    remove: (id) => del.run(id).changes > 0,
    active: () => (active.all() as RunSql[]).map(toRow),
    markCrashed(id: number, reason: string): RunRow | undefined {
      return crash.run({ id, reason: String(reason), now: Date.now() }).changes > 0 ? must(id) : undefined;
    },
    requestCancel(id: number): RunRow {
      const row = must(id);
      requestCancel.run(Date.now(), id);
      return must(row.id);
    },
    cancelRequested(ids: readonly number[]): number[] {
      if (ids.length === 0) return [];
      const q = db.prepare(`SELECT id FROM runs WHERE cancel_requested_at IS NOT NULL AND id IN (${ids.map(() => '?').join(',')})`).pluck();
      return q.all(...ids) as number[];
    },
  };
}
