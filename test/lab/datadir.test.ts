import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDataDir, ensureDataDir, resolveDataDir } from '../../src-main/lab/datadir.js';

test('flag beats env beats default', () => {
  const env = { LSHLAB_DATA_DIR: '/from/env' };
  assert.deepEqual(resolveDataDir({ flag: '/from/flag', env, platform: 'linux' }), { dir: '/from/flag', source: 'flag' });
  assert.deepEqual(resolveDataDir({ env, platform: 'linux' }), { dir: '/from/env', source: 'env' });
  assert.deepEqual(resolveDataDir({ env: {}, platform: 'linux', homedir: '/home/u' }), {
    dir: '/home/u/.local/share/lshlab',
    source: 'default',
  });
});

test('relative and ~ paths resolve', () => {
  assert.equal(resolveDataDir({ flag: 'data', cwd: '/work', platform: 'linux' }).dir, '/work/data');
  assert.equal(resolveDataDir({ flag: '~/lab', homedir: '/home/u', platform: 'linux' }).dir, '/home/u/lab');
  assert.throws(() => resolveDataDir({ flag: '' }), /--data-dir must not be empty/);
  // An empty env value is ignored.
  assert.equal(resolveDataDir({ env: { LSHLAB_DATA_DIR: '' }, platform: 'linux', homedir: '/h' }).source, 'default');
});

test('per-OS defaults', () => {
  assert.equal(defaultDataDir('linux', { XDG_DATA_HOME: '/xdg' }, '/home/u'), '/xdg/lshlab');
  assert.equal(defaultDataDir('linux', { XDG_DATA_HOME: 'relative' }, '/home/u'), '/home/u/.local/share/lshlab');
  assert.equal(defaultDataDir('linux', {}, '/home/u'), '/home/u/.local/share/lshlab');
  assert.equal(defaultDataDir('darwin', {}, '/Users/u'), '/Users/u/Library/Application Support/lshlab');
  assert.equal(
    defaultDataDir('win32', { APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'C:\\Users\\u'),
    'C:\\Users\\u\\AppData\\Roaming\\lshlab',
  );
  assert.equal(defaultDataDir('win32', {}, 'C:\\Users\\u'), 'C:\\Users\\u\\AppData\\Roaming\\lshlab');
});

test('resolving does not create; ensureDataDir creates on first use', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-dd-'));
  try {
    const dir = path.join(base, 'nested', 'lab');
    assert.equal(resolveDataDir({ env: { LSHLAB_DATA_DIR: dir } }).dir, dir);
    assert.equal(fs.existsSync(dir), false);
    const r = ensureDataDir({ env: { LSHLAB_DATA_DIR: dir } });
    assert.deepEqual(r, { dir, source: 'env' });
    assert.ok(fs.statSync(dir).isDirectory());
    ensureDataDir({ env: { LSHLAB_DATA_DIR: dir } }); // idempotent
    const file = path.join(base, 'a-file');
    fs.writeFileSync(file, 'x');
    assert.throws(() => ensureDataDir({ flag: file }), /lab data directory/);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
