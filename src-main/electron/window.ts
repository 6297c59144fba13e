/**
 * window.ts: the workbench's one BrowserWindow. It is created with the locked-down webPreferences
 * below (context isolation, renderer sandbox, no Node, web security on, no webview, no insecure
 * content), gets the navigation/new-window guards of security.ts, and loads the renderer from
 * app://lshlab/index.html (protocol.ts), never from file:// or the network. It is shown once the
 * first paint is ready, so the user never sees a white flash.
 *
 * It does not import electron at runtime: main.ts passes the BrowserWindow class in (tests pass a
 * fake one and assert every flag). It does not know about IPC or the lab: ipc.ts and events.ts do.
 */
import type { BrowserWindow, BrowserWindowConstructorOptions, WebPreferences } from 'electron';
import { APP_INDEX_URL } from './protocol.js';
import { guardWebContents, type SecurityLog } from './security.js';

/** The webPreferences of every window the app opens; each flag is the secure choice, spelled out. */
export function secureWebPreferences(preloadPath: string): WebPreferences {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
  };
}

export interface MainWindowOptions {
  /** Electron's BrowserWindow class (injected). */
  BrowserWindow: new (options: BrowserWindowConstructorOptions) => BrowserWindow;
  /** Absolute path of the compiled preload.js. */
  preloadPath: string;
  /** Window icon (Linux and Windows use it; macOS takes the bundle's). */
  iconPath?: string;
  /** What to load; the app:// index unless a test says otherwise. */
  url?: string;
  log?: SecurityLog;
}

export function mainWindowOptions(opts: Pick<MainWindowOptions, 'preloadPath' | 'iconPath'>): BrowserWindowConstructorOptions {
  return {
    width: 1400,
    height: 900,
    minWidth: 800,
    minHeight: 560,
    title: 'lshlab',
    show: false,
    backgroundColor: '#ffffff',
    ...(opts.iconPath ? { icon: opts.iconPath } : {}),
    webPreferences: secureWebPreferences(opts.preloadPath),
  };
}

/** Creates, guards and starts loading the main window (shown at its first paint). */
export function createMainWindow(opts: MainWindowOptions): BrowserWindow {
  const win = new opts.BrowserWindow(mainWindowOptions(opts));
  guardWebContents(win.webContents, opts.log);
  win.once('ready-to-show', () => win.show());
  // A failed load (a missing dist/renderer, say) must be visible, not a blank window forever.
  win.webContents.on('did-fail-load', (_event, code, description, url) => {
    (opts.log ?? ((m: string) => process.stderr.write(`lshlab: ${m}\n`)))(`could not load ${url}: ${description} (${code})`);
    if (!win.isVisible()) win.show();
  });
  void win.loadURL(opts.url ?? APP_INDEX_URL).catch(() => undefined /* reported by did-fail-load */);
  return win;
}

/** Brings an existing window to the front (a second `lshlab` start lands here). */
export function focusWindow(win: Pick<BrowserWindow, 'isMinimized' | 'restore' | 'show' | 'focus'>): void {
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}
