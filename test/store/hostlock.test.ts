// The host lock: one training host per database; a live holder (this process or another) is
// refused with its pid; a dead one's lock (kill -9) is taken over; released on close and on exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { openStore, StoreError } from '../../src-main/store/index.js';
import { newRun, startChild, tempLab, waitExit } from './helpers.js';

const lockOf = (db: string): string => `${db}.host-lock`;
const readLock = (db: string): { pid: number; hostname: string; command: string; startedAt: string } =>
  JSON.parse(fs.readFileSync(lockOf(db), 'utf8'));

function inUse(f: () => unknown, pid: number, command: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof StoreError, String(e));
    assert.equal(e.code, 'in-use');
    assert.match(e.message, new RegExp(`database in use by another lshlab host \\(pid ${pid}, '${command}', since \\d{4}-\\d\\d-\\d\\dT[^)]*\\); wait for it to finish or stop it$`));
    return true;
  });
}

test('a second host in the same process is refused; close releases the lock', () => {
  const t = tempLab();
  try {
    const host = openStore(t.db, { host: { command: 'lshlab train' } });
    const lock = readLock(t.db);
    assert.equal(lock.pid, process.pid);
    assert.equal(lock.hostname, os.hostname());
    assert.equal(lock.command, 'lshlab train');
    assert.ok(!Number.isNaN(Date.parse(lock.startedAt)));
    inUse(() => openStore(t.db, { host: { command: 'lshlab demo' } }), process.pid, 'lshlab train');

    // Short commands share the file with the host.
    const run = host.runs.create(newRun({ name: 'live', status: 'running' }));
    const cli = openStore(t.db);
    cli.runs.addTags(run.id, ['tagged-by-cli']);
    assert.deepEqual(host.runs.get(run.id)?.tags, ['tagged-by-cli']);
    cli.close();

    host.close();
    assert.ok(!fs.existsSync(lockOf(t.db)));
    openStore(t.db, { host: { command: 'lshlab demo' } }).close();
    assert.ok(!fs.existsSync(lockOf(t.db)));
  } finally {
    t.cleanup();
  }
});

test('a host in another process is refused with its pid; after kill -9 its lock is taken over', async () => {
  const t = tempLab();
  try {
    const { child } = await startChild(
      t.db,
      `openStore(file, { host: { command: 'lshlab train' } }); console.log('ready'); setInterval(() => {}, 1000);`,
      /^ready$/,
    );
    try {
      inUse(() => openStore(t.db, { host: { command: 'lshlab demo' } }), child.pid!, 'lshlab train');
      // A non-host open still works while the other host runs.
      openStore(t.db).close();
    } finally {
      child.kill('SIGKILL');
      await waitExit(child);
    }
    assert.equal(readLock(t.db).pid, child.pid, 'a killed host leaves its lock behind');
    const s = openStore(t.db, { host: { command: 'lshlab demo' } });
    assert.equal(readLock(t.db).pid, process.pid);
    assert.equal(readLock(t.db).command, 'lshlab demo');
    assert.equal(s.integrityCheck(), 'ok');
    s.close();
    assert.ok(!fs.existsSync(lockOf(t.db)));
  } finally {
    t.cleanup();
  }
});

test('a stale lock of an exited process is taken over; a garbled old one too', () => {
  const t = tempLab();
  try {
    const gone = spawnSync(process.execPath, ['-e', '']);
    assert.equal(gone.status, 0);
    fs.writeFileSync(
      lockOf(t.db),
      JSON.stringify({ pid: gone.pid, hostname: os.hostname(), command: 'lshlab train', startedAt: new Date(0).toISOString() }),
    );
    const s = openStore(t.db, { host: { command: 'lshlab train' } });
    assert.equal(readLock(t.db).pid, process.pid);
    s.close();

    fs.writeFileSync(lockOf(t.db), '{"pid": 12');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockOf(t.db), old, old);
    openStore(t.db, { host: { command: 'x' } }).close();
    assert.ok(!fs.existsSync(lockOf(t.db)));
  } finally {
    t.cleanup();
  }
});

test("a lock from another machine is respected; a lock being written is not stolen", () => {
  const t = tempLab();
  try {
    fs.writeFileSync(lockOf(t.db), JSON.stringify({ pid: 1, hostname: 'gpu-box-7', command: 'lshlab train', startedAt: '2025-01-01T00:00:00.000Z' }));
    assert.throws(() => openStore(t.db, { host: { command: 'x' } }), /pid 1 on gpu-box-7, 'lshlab train'/);
    fs.writeFileSync(lockOf(t.db), '');
    assert.throws(() => openStore(t.db, { host: { command: 'x' } }), (e: unknown) => e instanceof StoreError && e.code === 'in-use');
  } finally {
    t.cleanup();
  }
});

test('the lock is released when the host process exits without closing', async () => {
  const t = tempLab();
  try {
    const { child } = await startChild(
      t.db,
      `openStore(file, { host: { command: 'lshlab train' } }); console.log('ready'); setTimeout(() => process.exit(0), 50);`,
      /^ready$/,
    );
    await waitExit(child);
    assert.equal(child.exitCode, 0);
    assert.ok(!fs.existsSync(lockOf(t.db)));
  } finally {
    t.cleanup();
  }
});
