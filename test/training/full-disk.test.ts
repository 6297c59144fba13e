/**
 * full-disk.test.ts: a real full disk during a checkpoint. The run directories live on a tmpfs
 * mounted with room for one checkpoint of the tiny model but not two: the second checkpoint fails
 * with ENOSPC, the run fails naming the step, and the first checkpoint is intact and loads.
 * Needs root and mount(8) (CI and the developer machines have both); skipped, saying why, otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tempLab, tinySpec } from './helpers.js';
import { listCheckpoints } from '../../src-main/training/checkpoints.js';
import { runDirOf } from '../../src-main/training/host.js';

function tryMount(dir: string, size: string): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? null : `mount failed: ${(r.stderr || r.error?.message || '').trim()}`;
}

test('a full disk during a checkpoint leaves the previous checkpoint valid', async (t) => {
  const lab = tempLab();
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-tinyfs-'));
  // Tiny model: ~21k parameters, so a checkpoint (weights + two Adam moments) is about 250 KB.
  const why = tryMount(mnt, '400k');
  if (why) {
    t.skip(why);
    lab.cleanup();
    fs.rmSync(mnt, { recursive: true, force: true });
    return;
  }
  try {
    fs.symlinkSync(mnt, path.join(lab.dir, 'runs'));
    const row = await lab.host.start(tinySpec({ steps: 6, saveEvery: 2 })).done;
    assert.equal(row.status, 'failed');
    assert.match(row.error ?? '', /checkpoint at step 4 failed: .*(ENOSPC|no space)/i);
    assert.match(row.error ?? '', /step-00000002 is intact/);
    const dir = runDirOf(lab.dir, row);
    assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [2]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')), ['step-00000002'], 'no temporary directory left');
    assert.equal(lab.store.integrityCheck(), 'ok');
    // Loads: a resumed run on a roomy disk finishes from it.
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-ckcopy-'));
    fs.cpSync(listCheckpoints(dir)[0]!.path, copy, { recursive: true });
    fs.rmSync(path.join(lab.dir, 'runs'));
    const resumed = await lab.host.start(tinySpec({ steps: 4, fromCheckpoint: copy })).done;
    assert.equal(resumed.status, 'finished', resumed.error ?? '');
    fs.rmSync(copy, { recursive: true, force: true });
  } finally {
    spawnSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
    lab.cleanup();
  }
});
