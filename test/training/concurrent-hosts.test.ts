/**
 * concurrent-hosts.test.ts: many lshlab processes on one lab, as a researcher runs them from several
 * terminals: four `lshlab train` started together all finish with every metric point stored; kill
 * -9 of one of three hosts marks only its run crashed (on the next command) while the other two
 * finish; `lshlab runs cancel` from another process stops a run, which keeps a checkpoint; two
 * processes opening an older lab at once both succeed and the migration runs once.
 * Every process here is a real `bin/lshlab.js` (or node) child, so the locks are the kernel's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openStore, storePath } from '../../src-main/store/index.js';
import { LATEST_VERSION, migrate } from '../../src-main/store/migrations.js';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'lshlab.js');
const TINY = ['--task', 'mlm', '--dataset', 'synthetic:random', '--hidden', '16', '--layers', '1', '--heads', '2', '--intermediate', '32', '--max-seq-len', '16', '--batch', '4'];

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function lshlab(dir: string, args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args, '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LSHLAB_DATA_DIR: dir } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => void (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => void (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, out: () => out, err: () => err, exit };
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-concurrent-'));
}

/** Polls the lab until `pred` holds for the run named `name`. */
async function waitForRun(dir: string, name: string, pred: (lastStep: number, status: string) => boolean, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fs.existsSync(storePath(dir))) {
      const s = openStore(storePath(dir));
      try {
        const r = s.runs.resolve(name);
        if (r && pred(r.lastStep, r.status)) return r.id;
      } finally {
        s.close();
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run '${name}' did not reach the expected state in ${timeoutMs} ms`);
}

test('four lshlab train processes on one lab at once: all finish, every metric point is stored', async () => {
  const dir = tempDir();
  try {
    const steps = 120;
    const procs = [0, 1, 2, 3].map((i) =>
      lshlab(dir, ['train', ...TINY, '--steps', String(steps), '--name', `r${i}`, '--threads', '1', '--seed', String(i + 1)]),
    );
    const ends = await Promise.all(procs.map((p) => p.exit));
    ends.forEach((e, i) => {
      assert.equal(e.code, 0, `r${i}: ${procs[i]!.err()}`);
      assert.doesNotMatch(procs[i]!.err(), /database is locked|SQLITE_BUSY|in use/i);
    });
    const s = openStore(storePath(dir));
    try {
      const runs = s.runs.list();
      assert.equal(runs.length, 4);
      for (const r of runs) {
        assert.equal(r.status, 'finished', r.name);
        assert.equal(r.lastStep, steps);
        for (const key of ['train/loss', 'train/lr', 'train/grad_norm']) {
          const pts = s.metrics.history(r.id, key);
          assert.equal(pts.length, steps, `${r.name} ${key}`);
          assert.deepEqual(pts.map((p) => p.step), Array.from({ length: steps }, (_, k) => k + 1));
        }
        assert.equal(s.evaluations.list(r.id).length, 1, r.name);
        assert.ok(s.checkpoints.latest(r.id), r.name);
      }
      assert.equal(s.integrityCheck(), 'ok');
    } finally {
      s.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 of one of three hosts: only its run becomes crashed, the other two finish', async () => {
  const dir = tempDir();
  try {
    const victim = lshlab(dir, ['train', ...TINY, '--steps', '1000000', '--name', 'victim', '--threads', '1']);
    const a = lshlab(dir, ['train', ...TINY, '--steps', '2500', '--name', 'a', '--threads', '1']);
    const b = lshlab(dir, ['train', ...TINY, '--steps', '2500', '--name', 'b', '--threads', '1']);
    await waitForRun(dir, 'victim', (step) => step >= 5);
    await waitForRun(dir, 'a', (step) => step >= 1);
    await waitForRun(dir, 'b', (step) => step >= 1);
    victim.child.kill('SIGKILL');
    const v = await victim.exit;
    assert.equal(v.signal, 'SIGKILL');

    // The next command, while a and b still train, marks exactly the victim's run crashed.
    const list = lshlab(dir, ['runs', 'list', '--json']);
    assert.equal((await list.exit).code, 0, list.err());
    assert.match(list.err(), /run \d+ \(victim\) was left running by a process that stopped: marked crashed/);
    const rows = JSON.parse(list.out()) as Array<{ name: string; status: string; error: string | null }>;
    const detail = JSON.stringify(rows.map((r) => [r.name, r.status, r.error]));
    const byName = new Map(rows.map((r) => [r.name, r]));
    assert.equal(byName.get('victim')?.status, 'crashed');
    assert.match(byName.get('victim')?.error ?? '', /stopped while it was active/);
    for (const n of ['a', 'b']) {
      const st = byName.get(n)?.status;
      assert.ok(st === 'running' || st === 'finished', `${n} is ${st}: ${detail}`);
    }

    for (const p of [a, b]) assert.equal((await p.exit).code, 0, p.err());
    const s = openStore(storePath(dir));
    try {
      assert.equal(s.runs.resolve('a')?.status, 'finished');
      assert.equal(s.runs.resolve('b')?.status, 'finished');
      assert.equal(s.runs.resolve('victim')?.status, 'crashed');
      assert.equal(s.metrics.history(s.runs.resolve('a')!.id, 'train/loss').length, 2500);
    } finally {
      s.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('lshlab runs cancel from another process stops a run hosted elsewhere, which keeps a checkpoint', async () => {
  const dir = tempDir();
  try {
    const host = lshlab(dir, ['train', ...TINY, '--steps', '1000000', '--name', 'long', '--threads', '1']);
    const id = await waitForRun(dir, 'long', (step) => step >= 5);
    const asked = Date.now();
    const cancel = lshlab(dir, ['runs', 'cancel', String(id), '--wait-s', '30']);
    const c = await cancel.exit;
    assert.equal(c.code, 0, cancel.err());
    assert.match(cancel.out(), new RegExp(`run 'long' \\(id ${id}\\): cancelled at step \\d+`));
    assert.ok(Date.now() - asked < 15_000, 'honoured promptly');
    const h = await host.exit;
    assert.equal(h.code, 0, host.err());
    const s = openStore(storePath(dir));
    try {
      const r = s.runs.get(id)!;
      assert.equal(r.status, 'cancelled');
      assert.ok(r.cancelRequestedAt !== null);
      const ck = s.checkpoints.latest(id);
      assert.ok(ck, 'a checkpoint was kept');
      assert.equal(ck.step, r.lastStep);
      assert.ok(fs.existsSync(ck.path));
    } finally {
      s.close();
    }
    // Cancelling an ended run says so and changes nothing.
    const again = lshlab(dir, ['runs', 'cancel', String(id)]);
    assert.equal((await again.exit).code, 0);
    assert.match(again.out(), /already cancelled: nothing to cancel/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('two processes open a lab at an older schema at the same moment: both succeed, the migration runs once', async () => {
  const dir = tempDir();
  try {
    const file = storePath(dir);
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    migrate(raw, 4);
    raw.exec(`INSERT INTO runs (uuid, name, status, task, dataset_name, model_config, attention, attention_params, train_config, seed, color, notes, created_at)
              VALUES ('${'c'.repeat(32)}', 'old', 'finished', 'mlm', 'x', '{}', 'exact', '{}', '{}', '1', '#000', '', 1)`);
    raw.close();
    const storeModule = path.join(__dirname, '..', '..', 'src-main', 'store', 'index.js');
    // Both start opening at the same wall-clock instant (a busy wait on a shared deadline).
    const at = Date.now() + 700;
    const script = `
      const { openStore } = require(${JSON.stringify(storeModule)});
      while (Date.now() < ${at}) {}
      const s = openStore(${JSON.stringify(file)});
      console.log(JSON.stringify({ version: s.schemaVersion(), run: s.runs.resolve('old').device }));
      s.close();`;
    const procs = [0, 1].map(() => {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => void (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => void (err += d));
      return new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on('close', (code) => resolve({ code, out, err })));
    });
    for (const r of await Promise.all(procs)) {
      // A second run of migration 5 or 6 would fail ("duplicate column name", "table already exists").
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), { version: LATEST_VERSION, run: 'cpu' });
    }
    const s = openStore(file);
    try {
      assert.equal(s.integrityCheck(), 'ok');
      assert.equal(s.runs.count(), 1);
    } finally {
      s.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
