/**
 * main.ts: the desktop app's entry (electron-builder's `main`, `npm start` with Electron). Like
 * Electron Fiddle's main.ts it only wires the feature modules, in the order Electron needs:
 *   before 'ready': single-instance lock (a second start focuses the first window and exits),
 *                   the app:// scheme's privileges, the guard on every future webContents;
 *   at 'ready':     session lockdown (permissions, network), the app:// handler, the lab API
 *                   (createLabApi with training runs and benchmarks in utility processes), the IPC channels
 *                   (calls, events, file dialog), then the window;
 *   on quit:        the API closes first (runs are cancelled and keep a checkpoint, the store is
 *                   closed), bounded in time, then the app quits.
 * Flags: --data-dir DIR (else $LSHLAB_DATA_DIR, else the per-user data folder, as the CLI) and
 * --threads N (engine threads per training run).
 *
 * This file and preload.ts are the only ones that load electron at runtime; everything they wire
 * takes its electron objects as parameters. startApp runs by itself only inside Electron
 * (process.versions.electron), so tests load this file with a fake electron and call it.
 */
import { app, BrowserWindow, dialog, ipcMain, protocol, session, utilityProcess } from 'electron';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLabApi, type LabApiInstance, type LabApiOptions } from '../api/lab-api.js';
import { resolveDataDir } from '../lab/datadir.js';
import { setupDialogs } from './dialogs.js';
import { setupEvents } from './events.js';
import { setupIpc } from './ipc.js';
import { privilegedSchemes, setupAppProtocol } from './protocol.js';
import { UTILITY_BENCH_PATH, utilityProcessLauncher } from './run-launcher.js';
import type { BenchReply, BenchRequest } from '../lab/bench-process.js';
import { secureSession, setupWebContentsGuard } from './security.js';
import { createMainWindow, focusWindow } from './window.js';

/** The Electron modules the app uses (the real ones, or a test's fakes). */
export interface ElectronParts {
  app: typeof app;
  BrowserWindow: typeof BrowserWindow;
  dialog: typeof dialog;
  ipcMain: typeof ipcMain;
  protocol: typeof protocol;
  session: typeof session;
  utilityProcess: typeof utilityProcess;
}

export function electronParts(): ElectronParts {
  return { app, BrowserWindow, dialog, ipcMain, protocol, session, utilityProcess };
}

export interface StartOptions {
  electron: ElectronParts;
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  createApi?: (opts: LabApiOptions) => Pick<LabApiInstance, 'call' | 'events' | 'close'>;
  log?: (message: string) => void;
  /** How long quitting waits for runs to stop and keep their checkpoint. */
  closeTimeoutMs?: number;
}

/** Where the compiled app's pieces are, from this file (dist/src-main/electron/). */
export const APP_FILES = {
  preload: path.join(__dirname, 'preload.js'),
  renderer: path.join(__dirname, '..', '..', 'renderer'),
  icon: path.join(__dirname, '..', '..', '..', 'resources', 'icon.png'),
};

/** `--name value` or `--name=value` anywhere in argv (Electron and Chromium add their own args). */
export function flagValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === name && i + 1 < argv.length) return argv[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

export interface AppState {
  window: BrowserWindow;
  api: Pick<LabApiInstance, 'call' | 'events' | 'close'>;
  dataDir: string;
}

/** Starts the app; resolves with its state once the window exists, or null if another instance runs. */
export async function startApp(opts: StartOptions): Promise<AppState | null> {
  const { app, BrowserWindow, dialog, ipcMain, protocol, session, utilityProcess } = opts.electron;
  const argv = opts.argv ?? process.argv;
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((m: string) => process.stderr.write(`lshlab: ${m}\n`));

  if (!app.requestSingleInstanceLock()) {
    // The first instance gets 'second-instance' and comes to the front; this one just leaves.
    app.quit();
    return null;
  }
  protocol.registerSchemesAsPrivileged(privilegedSchemes());
  setupWebContentsGuard(app, log);
  app.on('window-all-closed', () => app.quit());

  await app.whenReady();

  if (app.isPackaged) {
    // The native addon and driver are unpacked next to app.asar; the engine finds them there.
    const unpacked = path.join(process.resourcesPath, 'app.asar.unpacked', 'build', 'Release');
    if (!env['LSHLAB_NATIVE_DIR'] && fs.existsSync(unpacked)) env['LSHLAB_NATIVE_DIR'] = unpacked;
  }
  secureSession(session.defaultSession, log);
  setupAppProtocol(protocol, APP_FILES.renderer);

  const dataDir = resolveDataDir({ flag: flagValue(argv, '--data-dir'), env }).dir;
  const threadsFlag = flagValue(argv, '--threads');
  const threads = threadsFlag !== undefined && /^\d+$/.test(threadsFlag) && Number(threadsFlag) > 0 ? Number(threadsFlag) : undefined;
  const api = (opts.createApi ?? createLabApi)({
    dataDir,
    launcher: utilityProcessLauncher(utilityProcess),
    benchLauncher: utilityProcessLauncher<BenchRequest, BenchReply>(utilityProcess, { modulePath: UTILITY_BENCH_PATH, serviceName: 'lshlab benchmark' }),
    owner: `lshlab desktop app (pid ${process.pid} on ${os.hostname()})`,
    ...(threads !== undefined ? { threads } : {}),
    log,
  });

  const removeIpc = setupIpc(ipcMain, api, log);
  const relay = setupEvents(ipcMain, api, log);
  setupDialogs(ipcMain, { dialog, windowOf: (contents) => BrowserWindow.fromWebContents(contents), log });

  const openWindow = () =>
    createMainWindow({ BrowserWindow, preloadPath: APP_FILES.preload, ...(fs.existsSync(APP_FILES.icon) ? { iconPath: APP_FILES.icon } : {}), log });
  let window = openWindow();
  app.on('second-instance', () => {
    const [existing] = BrowserWindow.getAllWindows();
    if (existing) focusWindow(existing);
    else window = openWindow();
  });
  // macOS: clicking the dock icon with no window open opens one.
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) window = openWindow();
  });

  let closed = false;
  let closing = false;
  app.on('before-quit', (event) => {
    if (closed) return;
    event.preventDefault();
    if (closing) return;
    closing = true;
    relay.dispose();
    removeIpc();
    api
      .close(opts.closeTimeoutMs ?? 15_000)
      .catch((err: unknown) => log(`closing the lab failed: ${(err as Error).message}`))
      .finally(() => {
        closed = true;
        app.quit();
      });
  });

  return {
    get window() {
      return window;
    },
    api,
    dataDir,
  };
}

if (process.versions['electron'] !== undefined) {
  startApp({ electron: electronParts() }).catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    process.stderr.write(`lshlab: the desktop app could not start: ${e.stack ?? e.message}\n`);
    dialog.showErrorBox('lshlab could not start', e.message);
    app.exit(1);
  });
}
