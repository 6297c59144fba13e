// Opening the store: schema from empty, migrations from every earlier version, and the files it
// must refuse and leave byte-identical (not SQLite, another program's, newer, damaged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import { openStore, storePath, StoreError, type LabStore } from '../../src-main/store/index.js';
import { APPLICATION_ID, LATEST_VERSION, MIGRATIONS, migrate } from '../../src-main/store/migrations.js';
import { newRun, sha256File, tempLab } from './helpers.js';

function refuses(f: () => unknown, code: StoreError['code'], re: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });
}

test('storePath is <dataDir>/lab.db', () => {
  assert.equal(storePath('/data/lab'), '/data/lab/lab.db');
});

test('schema from empty: latest version, our application_id, WAL, foreign keys', () => {
  const t = tempLab();
  try {
    const s = openStore(t.db);
    assert.equal(s.path, t.db);
    assert.equal(s.schemaVersion(), LATEST_VERSION);
    assert.ok(LATEST_VERSION >= 2);
    assert.equal(s.integrityCheck(), 'ok');
    assert.deepEqual(s.runs.list(), []);
    s.close();
    s.close(); // idempotent
    const raw = new Database(t.db, { readonly: true });
    assert.equal(raw.pragma('application_id', { simple: true }), APPLICATION_ID);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    const tables = raw.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).pluck().all();
    for (const name of ['benchmarks', 'checkpoints', 'datasets', 'environments', 'evaluations', 'metric_chunks', 'metric_keys', 'metric_summary', 'run_tags', 'runs', 'studies', 'study_runs']) {
      assert.ok(tables.includes(name), `table ${name}`);
    }
    for (const name of ['metrics', 'metric_blocks']) assert.ok(!tables.includes(name), `table ${name} is gone since schema 4`);
    raw.close();
    // Reopening an up-to-date file changes nothing.
    const again = openStore(t.db);
    assert.equal(again.schemaVersion(), LATEST_VERSION);
    again.close();
  } finally {
    t.cleanup();
  }
});

test('an empty file and an empty SQLite file are adopted', () => {
  const t = tempLab();
  try {
    fs.writeFileSync(t.db, '');
    openStore(t.db).close();
    const other = `${t.dir}/blank.db`;
    new Database(other).close(); // sqlite3 blank.db '' makes a zero-byte file; force a header too
    const raw = new Database(other);
    raw.pragma('user_version = 0');
    raw.exec('VACUUM');
    raw.close();
    const s = openStore(other);
    assert.equal(s.schemaVersion(), LATEST_VERSION);
    s.close();
  } finally {
    t.cleanup();
  }
});

/** Rows valid at every schema version (raw SQL, as an older lshlab would have written them). */
function seedRaw(db: Database.Database, version: number): void {
  db.exec(`
    INSERT INTO datasets (id, name, kind, source, format, dir, tokenizer, num_records, num_tokens, splits, label_set, stats, sha256, builtin, created_at)
    VALUES (1, 'wiki', 'text', '/x/wiki.txt', 'txt', '/lab/datasets/wiki', 'wp-32k', 10, 1000, '{"train":9,"validation":1}', '[]', '{}', 'ab', 0, 1);
    INSERT INTO environments (id, sha256, json, created_at) VALUES (1, 'e1', '{"cpu":"x"}', 1);
    INSERT INTO runs (id, uuid, name, status, task, dataset_name, dataset_id, model_config, attention, attention_params, train_config, seed, color, notes, created_at, last_step, environment_id)
    VALUES (1, '0123456789abcdef0123456789abcdef', 'old', 'finished', 'mlm', 'wiki', 1, '{"hiddenSize":128}', 'exact', '{}', '{"lr":0.001}', '7', '#4e79a7', 'kept', 5, 300, 1);
    INSERT INTO run_tags (run_id, tag) VALUES (1, 'paper');
    INSERT INTO metric_keys (id, name) VALUES (1, 'train/loss');
    INSERT INTO evaluations (run_id, step, split, metrics, time) VALUES (1, 300, 'validation', '{"loss":2.5}', 9);
    INSERT INTO checkpoints (run_id, step, path, bytes, created_at) VALUES (1, 300, '/lab/runs/x/step-300', 12, 9);
  `);
  const ins = db.prepare(`INSERT INTO metrics (run_id, key_id, step, value, flag, time) VALUES (1, 1, ?, ?, ?, 0)`);
  for (let s = 1; s <= 300; s++) ins.run(s, s === 7 ? null : 10 - s / 100, s === 7 ? 1 : 0);
  if (version >= 2) {
    // What v2's append path would have kept.
    db.prepare(`INSERT INTO metric_summary VALUES (1, 1, 300, ?, 0, 300, ?, 300, ?, 1)`).run(10 - 3, 10 - 3, 10 - 0.01);
  }
}

for (const m of MIGRATIONS.filter((x) => x.version < LATEST_VERSION)) {
  test(`migrates from schema ${m.version} (${m.description.split(':')[0]}) to ${LATEST_VERSION}, keeping data`, () => {
    const t = tempLab();
    const fresh = tempLab();
    try {
      const raw = new Database(t.db);
      // Point rows exist up to v3; a v4+ file gets its rows through the real upgrade path.
      const seeded = Math.min(m.version, 3);
      assert.equal(migrate(raw, seeded), seeded);
      seedRaw(raw, seeded);
      assert.equal(migrate(raw, m.version), m.version);
      raw.close();

      const s: LabStore = openStore(t.db);
      assert.equal(s.schemaVersion(), LATEST_VERSION);
      assert.equal(s.integrityCheck(), 'ok');
      const run = s.runs.resolve('old');
      assert.ok(run);
      assert.equal(run.notes, 'kept');
      assert.deepEqual(run.tags, ['paper']);
      assert.equal(run.lastStep, 300);
      assert.equal(run.datasetId, 1);
      assert.equal(s.datasets.get('wiki')?.splits.train, 9);
      assert.equal(s.evaluations.list(1)[0].metrics.loss, 2.5);
      // Schema 7's summaries are backfilled: the run list's bests come from them.
      const bests = s.runBests.of([1]).get(1);
      assert.deepEqual([bests?.trainLoss, bests?.evalSplit, bests?.evalLoss], [{ value: 7, step: 300 }, 'validation', { value: 2.5, step: 300 }]);
      assert.equal(s.checkpoints.latest(1)?.step, 300);
      const [sum] = s.metrics.summaries(1);
      assert.deepEqual(sum, { key: 'train/loss', count: 300, last: 7, lastStep: 300, min: 7, minStep: 300, max: 9.99, maxStep: 1 });
      const hist = s.metrics.history(1, 'train/loss');
      assert.equal(hist.length, 300);
      assert.ok(Number.isNaN(hist[6].value));

      // The converted chunks give the same series as the same points appended today.
      const f = openStore(fresh.db);
      const r2 = f.runs.create(newRun());
      f.metrics.append(r2.id, hist.map((p) => ({ key: 'train/loss', step: p.step, value: p.value, time: 0 })));
      for (const n of [1, 3, 30, 2000]) assert.deepEqual(s.metrics.series(1, 'train/loss', n), f.metrics.series(r2.id, 'train/loss', n));
      f.close();

      // And the upgraded store keeps working.
      s.metrics.append(1, [{ key: 'train/loss', step: 301, value: 1 }]);
      assert.equal(s.metrics.summaries(1)[0].count, 301);
      s.close();
    } finally {
      t.cleanup();
      fresh.cleanup();
    }
  });
}

test('a newer schema is refused and left untouched', () => {
  const t = tempLab();
  try {
    openStore(t.db).close();
    const raw = new Database(t.db);
    raw.pragma(`user_version = ${LATEST_VERSION + 3}`);
    raw.close();
    const before = sha256File(t.db);
    refuses(() => openStore(t.db), 'newer-schema', new RegExp(`written by a newer lshlab \\(schema ${LATEST_VERSION + 3}, this one knows ${LATEST_VERSION}\\)`));
    assert.equal(sha256File(t.db), before);
  } finally {
    t.cleanup();
  }
});

test('a file that is not SQLite is refused and left byte-identical', () => {
  const t = tempLab();
  try {
    const cases: [string, Buffer][] = [
      ['text.db', Buffer.from('runs,loss\n1,2.5\n'.repeat(100))],
      ['short.db', Buffer.from('SQLite')],
      ['nearly.db', Buffer.from('SQLite format 2\0' + 'x'.repeat(4096))],
    ];
    for (const [name, body] of cases) {
      const file = `${t.dir}/${name}`;
      fs.writeFileSync(file, body);
      const before = sha256File(file);
      refuses(() => openStore(file), 'not-sqlite', /: not an lshlab database \(not a SQLite file\); it was left untouched$/);
      assert.equal(sha256File(file), before, name);
      assert.deepEqual(fs.readdirSync(t.dir).filter((f) => f.startsWith(name)), [name], 'no -wal, -shm or lock beside it');
    }
  } finally {
    t.cleanup();
  }
});

test("another program's SQLite database is refused and left untouched", () => {
  const t = tempLab();
  try {
    const raw = new Database(t.db);
    raw.exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('mine');`);
    raw.close();
    const before = sha256File(t.db);
    refuses(() => openStore(t.db), 'foreign', /is a SQLite database of another program/);
    assert.equal(sha256File(t.db), before);

    // Another application_id, even without tables.
    const other = `${t.dir}/other.db`;
    const o = new Database(other);
    o.pragma('application_id = 1234');
    o.close();
    refuses(() => openStore(other), 'foreign', /application_id 0x000004d2/);
  } finally {
    t.cleanup();
  }
});

test('a damaged file is refused as corrupt and left untouched', () => {
  const t = tempLab();
  try {
    const body = Buffer.alloc(8192, 0xa5);
    Buffer.from('SQLite format 3\0', 'latin1').copy(body);
    fs.writeFileSync(t.db, body);
    const before = sha256File(t.db);
    refuses(() => openStore(t.db), 'corrupt', /damaged/);
    assert.equal(sha256File(t.db), before);
  } finally {
    t.cleanup();
  }
});

test('read-only: no creation, no migration, reads work and writes fail', () => {
  const t = tempLab();
  try {
    refuses(() => openStore(t.db, { readonly: true }), 'io', /does not exist/);
    assert.ok(!fs.existsSync(t.db));
    const w = openStore(t.db);
    w.runs.create(newRun({ name: 'a' }));
    w.close();
    const r = openStore(t.db, { readonly: true });
    assert.equal(r.runs.list()[0].name, 'a');
    assert.throws(() => r.runs.create(newRun()), /readonly/i);
    r.close();
    refuses(() => openStore(`${t.dir}/missing/lab.db`), 'io', /does not exist/);
  } finally {
    t.cleanup();
  }
});
