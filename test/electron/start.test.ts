/**
 * start.test.ts: `npm start` (scripts/start.mjs) picks Electron when its binary is installed and
 * `lshlab serve` otherwise, saying why, without ever loading the electron package (which would
 * download the binary). Decisions are checked against fake package trees; one run of the real
 * script (dry run) checks it in this checkout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.join(__dirname, '..', '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'start.mjs');

interface StartModule {
  NO_BINARY_MESSAGE: string;
  findElectronBinary(o: { root: string; env?: NodeJS.ProcessEnv }): { path: string } | { missing: string };
  chooseStart(o: { root: string; args?: string[]; env?: NodeJS.ProcessEnv; execPath?: string }): {
    kind: 'electron' | 'browser' | 'error';
    command?: string;
    args?: string[];
    reason?: string;
    message?: string;
  };
}

async function loadStart(): Promise<StartModule> {
  const url = pathToFileURL(SCRIPT).href;
  return (await import(url)) as StartModule;
}

/** A package tree: built dist, the electron package (whose index.js must never run), maybe a binary. */
function fakeRoot(o: { built?: boolean; electronPkg?: boolean; pathTxt?: string; binary?: boolean; appMain?: boolean }): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-start-'));
  const write = (rel: string, text = '') => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  if (o.built ?? true) write('dist/src-main/cli/main.js');
  if (o.appMain ?? true) write('dist/src-main/electron/main.js');
  if (o.electronPkg ?? true) {
    write('node_modules/electron/package.json', '{"name":"electron","main":"index.js"}');
    write('node_modules/electron/index.js', "throw new Error('the electron package was loaded: it would download its binary')");
  }
  if (o.pathTxt !== undefined) write('node_modules/electron/path.txt', o.pathTxt);
  if (o.binary) write(`node_modules/electron/dist/${o.pathTxt ?? 'electron'}`, '#!/bin/sh\n');
  return root;
}

test('Electron binary present: start the desktop app with the arguments', async () => {
  const { chooseStart } = await loadStart();
  const root = fakeRoot({ pathTxt: 'electron', binary: true });
  try {
    const c = chooseStart({ root, args: ['--data-dir', '/lab'], env: {} });
    assert.equal(c.kind, 'electron');
    assert.equal(c.command, path.join(root, 'node_modules', 'electron', 'dist', 'electron'));
    assert.deepEqual(c.args, [path.join(root, 'dist', 'src-main', 'electron', 'main.js'), '--data-dir', '/lab']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('no binary (no path.txt, as after npm install offline): serve mode, with the one-line reason', async () => {
  const { chooseStart, NO_BINARY_MESSAGE } = await loadStart();
  const root = fakeRoot({});
  try {
    const c = chooseStart({ root, args: ['--data-dir', '/lab', '--threads', '2'], env: {}, execPath: '/usr/bin/node' });
    assert.equal(c.kind, 'browser');
    assert.equal(c.command, '/usr/bin/node');
    assert.deepEqual(c.args, [path.join(root, 'bin', 'lshlab.js'), 'serve', '--data-dir', '/lab', '--threads', '2']);
    assert.equal(c.message, NO_BINARY_MESSAGE);
    assert.match(NO_BINARY_MESSAGE, /^lshlab: Electron's binary is not installed \(run 'npx install-electron' on a networked machine\); opening the workbench in your browser instead$/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('path.txt without the executable, no electron package, or an unbuilt app: serve mode', async () => {
  const { chooseStart } = await loadStart();
  const cases = [
    { tree: { pathTxt: 'electron' }, reason: /is missing/ },
    { tree: { electronPkg: false }, reason: /electron package is not installed/ },
    { tree: { pathTxt: 'electron', binary: true, appMain: false }, reason: /main\.js is missing/ },
  ];
  for (const { tree, reason } of cases) {
    const root = fakeRoot(tree);
    try {
      const c = chooseStart({ root, env: {} });
      assert.equal(c.kind, 'browser', JSON.stringify(tree));
      assert.match(c.reason!, reason);
      assert.match(c.message!, /opening the workbench in your browser/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
});

test('ELECTRON_OVERRIDE_DIST_PATH is honoured like the electron package does; --browser forces serve mode', async () => {
  const { chooseStart } = await loadStart();
  const root = fakeRoot({});
  const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-electron-dist-'));
  try {
    fs.writeFileSync(path.join(dist, 'electron'), '');
    const c = chooseStart({ root, env: { ELECTRON_OVERRIDE_DIST_PATH: dist } });
    assert.equal(c.kind, 'electron');
    assert.equal(c.command, path.join(dist, 'electron'));
    const b = chooseStart({ root, args: ['--browser', '--data-dir', '/lab'], env: { ELECTRON_OVERRIDE_DIST_PATH: dist } });
    assert.equal(b.kind, 'browser');
    assert.deepEqual(b.args!.slice(1), ['serve', '--data-dir', '/lab']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(dist, { recursive: true, force: true });
  }
});

test('nothing built: an error saying to build', async () => {
  const { chooseStart } = await loadStart();
  const root = fakeRoot({ built: false });
  try {
    const c = chooseStart({ root, env: {} });
    assert.equal(c.kind, 'error');
    assert.match(c.message!, /npm install \(or npm run build\)/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the real script, dry run, in this checkout: the decision matches what is installed', () => {
  const env: NodeJS.ProcessEnv = { ...process.env, LSHLAB_START_DRY_RUN: '1' };
  delete env['ELECTRON_OVERRIDE_DIST_PATH'];
  const r = spawnSync(process.execPath, [SCRIPT, '--data-dir', '/tmp/lab'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const choice = JSON.parse(r.stdout) as { kind: string; args: string[] };
  const pathTxt = path.join(ROOT, 'node_modules', 'electron', 'path.txt');
  const installed = fs.existsSync(pathTxt) && fs.existsSync(path.join(ROOT, 'node_modules', 'electron', 'dist', fs.readFileSync(pathTxt, 'utf8').trim()));
  assert.equal(choice.kind, installed ? 'electron' : 'browser');
  assert.deepEqual(choice.args.slice(-2), ['--data-dir', '/tmp/lab']);
});
