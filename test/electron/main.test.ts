/**
 * main.test.ts: the entry point wires everything in the right order, with `require('electron')`
 * answered by a fake module (electron-mock.ts), so the real package (which would download a binary)
 * is never loaded. Checked: a second instance quits at once; the scheme is made privileged and the
 * webContents guard installed before 'ready'; at 'ready' the session is locked down, app:// is
 * handled, the API is created with --data-dir and a utilityProcess launcher, the IPC channels are
 * registered, the secure window opens on app://lshlab; a second start focuses it; quitting closes
 * the API first; and no module but main.js and preload.js loads electron at runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createFakeElectron, electronRequests, installElectronMock } from './electron-mock.js';
import { fakeEvent, type FakeBrowserWindow } from './fakes.js';
import type { LabApiOptions } from '../../src-main/api/lab-api.js';
import { IPC_CHANNELS } from '../../src-main/electron/channels.js';

type MainModule = typeof import('../../src-main/electron/main.js');

/** Loads main.js against a fresh fake electron; returns both. */
function loadMain() {
  const fake = createFakeElectron();
  const uninstall = installElectronMock(fake);
  try {
    const file = require.resolve('../../src-main/electron/main.js');
    delete require.cache[file];
    const main = require(file) as MainModule;
    return { fake, main, parts: main.electronParts() };
  } finally {
    uninstall();
  }
}

function fakeApiFactory() {
  const created: LabApiOptions[] = [];
  let closedWith: number | undefined;
  const factory = (opts: LabApiOptions) => {
    created.push(opts);
    return {
      call: (async () => ({})) as never,
      events: { subscribe: () => () => undefined, unsubscribe: () => undefined },
      close: async (ms?: number) => {
        closedWith = ms;
      },
    };
  };
  return { factory, created, closed: () => closedWith };
}

test('main.js gets electron from require (the fake here); no compiled module but main.js and preload.js loads it', () => {
  const before = electronRequests.length;
  const { fake, parts } = loadMain();
  assert.ok(electronRequests.length > before);
  assert.equal(parts.app, fake.app as never);
  // Across all compiled main-process code: only these two files load electron at runtime.
  const srcMain = path.join(__dirname, '..', '..', 'src-main');
  const loaders: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js') && /require\(["']electron["']\)/.test(fs.readFileSync(p, 'utf8'))) loaders.push(path.relative(srcMain, p).split(path.sep).join('/'));
    }
  };
  walk(srcMain);
  assert.deepEqual(loaders.sort(), ['electron/main.js', 'electron/preload.js']);
});

test('a second instance quits without touching anything else', async () => {
  const { fake, main, parts } = loadMain();
  fake.app.lockGranted = false;
  const api = fakeApiFactory();
  assert.equal(await main.startApp({ electron: parts, createApi: api.factory, log: () => undefined }), null);
  assert.deepEqual(fake.app.calls, ['requestSingleInstanceLock', 'quit']);
  assert.equal(fake.protocol.privileged.length, 0);
  assert.equal(api.created.length, 0);
});

test('startup order, the API, the IPC channels and the secure window', async () => {
  const { fake, main, parts } = loadMain();
  const api = fakeApiFactory();
  const started = main.startApp({ electron: parts, createApi: api.factory, argv: ['electron', 'main.js', '--data-dir', '/tmp/lshlab-lab', '--threads', '3'], env: {}, log: () => undefined });
  await new Promise((r) => setImmediate(r));
  // Before 'ready': privileged scheme and the webContents hook, nothing else.
  assert.deepEqual(fake.protocol.privileged, [{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
  assert.equal(fake.app.listenerCount('web-contents-created'), 1);
  assert.equal(fake.protocol.handlers.size, 0);
  assert.equal(api.created.length, 0);

  fake.app.becomeReady();
  const state = await started;
  assert.ok(state);
  assert.ok(fake.session.defaultSession.permissionRequestHandler, 'permission handler');
  assert.ok(fake.session.defaultSession.beforeRequest, 'network block');
  assert.ok(fake.protocol.handlers.has('app'));
  assert.equal(api.created.length, 1);
  assert.equal(api.created[0]!.dataDir, '/tmp/lshlab-lab');
  assert.equal(api.created[0]!.threads, 3);
  assert.equal(typeof api.created[0]!.launcher, 'function');
  assert.deepEqual([...fake.ipcMain.handlers.keys()].sort(), [IPC_CHANNELS.call, IPC_CHANNELS.openFileDialog, IPC_CHANNELS.subscribe, IPC_CHANNELS.unsubscribe].sort());

  const win = state.window as unknown as FakeBrowserWindow;
  assert.equal(win.options['webPreferences'].sandbox, true);
  assert.equal(win.options['webPreferences'].contextIsolation, true);
  assert.equal(win.options['webPreferences'].preload, main.APP_FILES.preload);
  assert.deepEqual(win.loaded, ['app://lshlab/index.html']);

  // The launcher runs training in a utility process (the fake records the fork).
  api.created[0]!.launcher!();
  assert.equal(path.basename(fake.utilityProcess.forks[0]!.modulePath), 'utility-worker.js');
  // Benchmarks measure in a utility process of their own (so benchmarks.cancel can end them).
  api.created[0]!.benchLauncher!();
  assert.equal(path.basename(fake.utilityProcess.forks[1]!.modulePath), 'utility-bench.js');

  // A second start brings the window to the front.
  win.minimized = true;
  fake.app.emit('second-instance', fakeEvent(), []);
  assert.deepEqual([win.minimized, win.focused], [false, true]);
});

test('quitting closes the API first, then quits for real', async () => {
  const { fake, main, parts } = loadMain();
  const api = fakeApiFactory();
  const started = main.startApp({ electron: parts, createApi: api.factory, argv: [], env: { LSHLAB_DATA_DIR: '/tmp/lshlab-env-lab' }, log: () => undefined, closeTimeoutMs: 1234 });
  fake.app.becomeReady();
  const state = await started;
  assert.equal(state!.dataDir, '/tmp/lshlab-env-lab');
  const quit = fakeEvent();
  fake.app.emit('before-quit', quit);
  assert.equal(quit.defaultPrevented, true, 'the first quit waits for the API');
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(api.closed(), 1234);
  assert.equal(fake.app.calls.filter((c) => c === 'quit').length, 1);
  const again = fakeEvent();
  fake.app.emit('before-quit', again);
  assert.equal(again.defaultPrevented, false);
});

test('flagValue reads --flag value and --flag=value', () => {
  const { main } = loadMain();
  assert.equal(main.flagValue(['x', '--data-dir', '/a'], '--data-dir'), '/a');
  assert.equal(main.flagValue(['x', '--data-dir=/b'], '--data-dir'), '/b');
  assert.equal(main.flagValue(['x', '--data-dir'], '--data-dir'), undefined);
  assert.equal(main.flagValue(['x'], '--data-dir'), undefined);
});
