import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AtomicDirCancelledError, leftoverTempDirs, withAtomicDir } from '../../../src-main/data/cache/atomic-dir';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-atomic-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('files appear at the target only when the writer completes', async () => {
  const target = path.join(dir, 'datasets', 'sst2');
  const r = await withAtomicDir(target, async (tmp) => {
    assert.notEqual(tmp, target);
    assert.equal(path.dirname(tmp), path.dirname(target));
    fs.writeFileSync(path.join(tmp, 'a.bin'), 'x');
    assert.equal(fs.existsSync(target), false);
    return 42;
  });
  assert.equal(r, 42);
  assert.equal(fs.readFileSync(path.join(target, 'a.bin'), 'utf8'), 'x');
  assert.deepEqual(leftoverTempDirs(target), []);
  await assert.rejects(withAtomicDir(target, async () => 1), /already exists/);
});

test('an error inside the writer removes the temp dir and leaves no target', async () => {
  const target = path.join(dir, 'broken');
  await assert.rejects(withAtomicDir(target, async (tmp) => {
    fs.mkdirSync(path.join(tmp, 'sub'));
    fs.writeFileSync(path.join(tmp, 'sub', 'half.bin'), 'half');
    throw new Error('boom');
  }), /boom/);
  assert.equal(fs.existsSync(target), false);
  assert.deepEqual(leftoverTempDirs(target), []);
});

test('cancellation (signal fired during the write) removes everything', async () => {
  const target = path.join(dir, 'cancelled');
  const ac = new AbortController();
  await assert.rejects(withAtomicDir(target, async (tmp) => {
    fs.writeFileSync(path.join(tmp, 'x'), 'y');
    ac.abort();
  }, { signal: ac.signal }), AtomicDirCancelledError);
  assert.equal(fs.existsSync(target), false);
  assert.deepEqual(leftoverTempDirs(target), []);
});
