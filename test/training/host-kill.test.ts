/**
 * host-kill.test.ts: kill -9 of the host (the process that owns the database) in the middle of a
 * run: its training process exits by itself; the next command (here `runs list`) takes the stale
 * lock over for a moment and marks the orphaned run crashed with its flushed metrics intact; the
 * next host can delete it and trains normally.
 * Also: while a host is alive, a second host gets a clear "database in use" error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, storePath } from '../../src-main/store/index.js';
import { StoreError } from '../../src-main/store/types.js';
import { RunHost } from '../../src-main/training/host.js';
import { tinySpec } from './helpers.js';
import { main } from '../../src-main/cli/main.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('kill -9 of the host: the orphan becomes crashed on the next start and can be deleted', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-hostkill-'));
  try {
    const child = spawn(process.execPath, [path.join(__dirname, 'host-process.js'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let workerPid = 0;
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => {
        out += d;
        const w = /worker (\d+)/.exec(out);
        if (w) workerPid = Number(w[1]);
        const steps = [...out.matchAll(/step (\d+)/g)].map((m) => Number(m[1]));
        if (steps.length && steps[steps.length - 1]! >= 5) resolve();
      });
      child.on('exit', (code) => reject(new Error(`host exited early (${code}): ${out}`)));
    });
    child.removeAllListeners('exit');

    // While it lives, a second host is refused with a clear message.
    assert.throws(
      () => openStore(storePath(dir), { host: { command: 'second' } }),
      (e: unknown) => e instanceof StoreError && e.code === 'in-use' && /in use/.test(e.message) && e.message.includes(String(child.pid)),
    );

    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The training process notices its host is gone and exits on its own.
    for (let i = 0; i < 100 && workerPid && alive(workerPid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!alive(workerPid), 'training process exited after its host died');

    // A short command (no host running now) already sees the orphan as crashed and says so.
    let out2 = '';
    let err2 = '';
    const code = await main(['runs', 'list', '--json', '--data-dir', dir], {
      stdout: { write: (t) => void (out2 += t), isTTY: false },
      stderr: { write: (t) => void (err2 += t), isTTY: false },
      env: {},
    });
    assert.equal(code, 0, err2);
    assert.match(err2, /was left running by a stopped host: marked crashed/);
    assert.match(out2, /"status": "crashed"/);

    const store = openStore(storePath(dir), { host: { command: 'next' } });
    try {
      const host = new RunHost(store, dir, { threads: 1 });
      assert.equal(host.recoverOrphans().length, 0, 'recovered already');
      const [orphan] = store.runs.list();
      const run = store.runs.get(orphan!.id)!;
      assert.equal(run.status, 'crashed');
      assert.match(run.error ?? '', /host stopped/);
      const pts = store.metrics.history(run.id, 'train/loss');
      assert.ok(pts.length >= 1 && pts.length <= run.lastStep, `${pts.length} points, last step ${run.lastStep}`);
      assert.equal(store.integrityCheck(), 'ok');
      assert.ok(store.runs.remove(run.id));
      assert.equal(store.runs.get(run.id), undefined);
      const next = await host.start(tinySpec({ steps: 3 })).done;
      assert.equal(next.status, 'finished');
    } finally {
      store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
