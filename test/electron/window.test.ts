/**
 * window.test.ts: the main window and the guards every webContents gets. The window is created
 * with each secure webPreferences flag, loads app://lshlab/index.html, and is shown at first
 * paint; navigation out of the app, new windows and <webview> are refused; every permission
 * request and check is denied; network requests are cancelled at the session; the
 * web-contents-created hook guards webContents the app did not create itself.
 * (Fakes stand in for Electron: this checks what the shell asks of Electron, not Electron.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMainWindow, focusWindow, secureWebPreferences } from '../../src-main/electron/window.js';
import { BLOCKED_REQUEST_URLS, guardWebContents, secureSession, setupWebContentsGuard } from '../../src-main/electron/security.js';
import { APP_INDEX_URL } from '../../src-main/electron/protocol.js';
import { FakeApp, FakeBrowserWindow, FakeSession, FakeWebContents, fakeEvent } from './fakes.js';

const quiet = () => undefined;

function openWindow(): FakeBrowserWindow {
  return createMainWindow({ BrowserWindow: FakeBrowserWindow as never, preloadPath: '/app/dist/src-main/electron/preload.js', log: quiet }) as unknown as FakeBrowserWindow;
}

test('the window is created with every secure webPreferences flag and the preload', () => {
  const win = openWindow();
  const prefs = win.options['webPreferences'];
  assert.equal(prefs.contextIsolation, true);
  assert.equal(prefs.sandbox, true);
  assert.equal(prefs.nodeIntegration, false);
  assert.equal(prefs.nodeIntegrationInWorker, false);
  assert.equal(prefs.nodeIntegrationInSubFrames, false);
  assert.equal(prefs.webSecurity, true);
  assert.equal(prefs.allowRunningInsecureContent, false);
  assert.equal(prefs.webviewTag, false);
  assert.equal(prefs.experimentalFeatures, false);
  assert.equal(prefs.preload, '/app/dist/src-main/electron/preload.js');
  assert.deepEqual(secureWebPreferences('/p.js'), { ...prefs, preload: '/p.js' });
  // Nothing that would loosen it, under any name.
  for (const k of ['enableRemoteModule', 'contextIsolationInWorker', 'enableBlinkFeatures', 'additionalArguments'])
    assert.ok(!(k in prefs), k);
});

test('the window loads the renderer from app://lshlab and shows at first paint', () => {
  const win = openWindow();
  assert.deepEqual(win.loaded, [APP_INDEX_URL]);
  assert.equal(win.options['show'], false);
  assert.equal(win.visible, false);
  win.emit('ready-to-show');
  assert.equal(win.visible, true);
});

test('a failed load shows the window anyway (no invisible app)', () => {
  const win = openWindow();
  win.webContents.emit('did-fail-load', fakeEvent(), -6, 'ERR_FILE_NOT_FOUND', APP_INDEX_URL);
  assert.equal(win.visible, true);
});

test('navigation out of the app is prevented; within app://lshlab it is allowed', () => {
  const win = openWindow();
  for (const url of ['https://example.com/', 'http://127.0.0.1:8080/', 'file:///etc/passwd', 'javascript:alert(1)', 'app://evil/index.html', 'data:text/html,hi']) {
    for (const kind of ['will-navigate', 'will-frame-navigate', 'will-redirect']) {
      const e = fakeEvent({ url });
      win.webContents.emit(kind, e, url);
      assert.equal(e.defaultPrevented, true, `${kind} ${url}`);
    }
  }
  const inApp = fakeEvent({ url: 'app://lshlab/index.html#/runs' });
  win.webContents.emit('will-navigate', inApp, inApp.url);
  assert.equal(inApp.defaultPrevented, false);
  // The older listener signature (url as the 2nd argument only) is covered too.
  const legacy = fakeEvent();
  win.webContents.emit('will-navigate', legacy, 'https://example.com/');
  assert.equal(legacy.defaultPrevented, true);
});

test('new windows are denied, whatever the URL; <webview> is never attached', () => {
  const win = openWindow();
  for (const url of ['https://example.com/', 'app://lshlab/index.html', 'about:blank'])
    assert.deepEqual(win.webContents.windowOpenHandler!({ url }), { action: 'deny' });
  const e = fakeEvent();
  win.webContents.emit('will-attach-webview', e, {}, {});
  assert.equal(e.defaultPrevented, true);
});

test('permission requests and checks are denied; network requests are cancelled', () => {
  const session = new FakeSession();
  secureSession(session as never, quiet);
  for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fileSystem']) {
    let granted: boolean | undefined;
    session.permissionRequestHandler!(new FakeWebContents(), permission, (g) => (granted = g));
    assert.equal(granted, false, permission);
    assert.equal(session.permissionCheckHandler!(null, permission, 'app://lshlab', {}), false, permission);
  }
  assert.deepEqual(session.beforeRequest!.filter.urls, BLOCKED_REQUEST_URLS);
  for (const scheme of ['http', 'https', 'ws', 'wss', 'file']) assert.ok(BLOCKED_REQUEST_URLS.some((u) => u.startsWith(`${scheme}://`)), scheme);
  let answer: { cancel?: boolean } | undefined;
  session.beforeRequest!.listener({ url: 'https://example.com/x.js' }, (r) => (answer = r));
  assert.deepEqual(answer, { cancel: true });
});

test('web-contents-created guards every webContents, once', () => {
  const app = new FakeApp();
  setupWebContentsGuard(app as never, quiet);
  const contents = new FakeWebContents();
  app.emit('web-contents-created', fakeEvent(), contents);
  assert.deepEqual(contents.windowOpenHandler!({ url: 'https://example.com' }), { action: 'deny' });
  const e = fakeEvent({ url: 'https://example.com' });
  contents.emit('will-navigate', e, e.url);
  assert.equal(e.defaultPrevented, true);
  // The main window's own guard and the hook together install one set of listeners, not two.
  guardWebContents(contents as never, quiet);
  assert.equal(contents.listenerCount('will-navigate'), 1);
});

test('focusWindow restores, shows and focuses (a second start lands here)', () => {
  const win = openWindow();
  win.minimized = true;
  focusWindow(win as never);
  assert.deepEqual([win.minimized, win.visible, win.focused], [false, true, true]);
});
