/**
 * electron-mock.ts: makes `require('electron')` return a fake module, the node:test counterpart
 * of Fiddle's `vi.mock('electron', ...)`. The real package must never load in tests: its
 * index.js downloads the Electron binary on first require (Electron >= 42), which cannot work on
 * machines without the network, and its value is only a path anyway.
 *
 * installElectronMock() patches Module._load, the one function every require goes through, so
 * the fake answers for 'electron' whoever asks; everything else loads normally. Install it before
 * loading a module that imports electron at runtime (main.js); uninstall restores require.
 */
import Module from 'node:module';
import { FakeApp, FakeBrowserWindow, FakeDialog, FakeIpcMain, FakeProtocol, FakeSession, FakeUtilityProcess } from './fakes.js';

type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;

export interface FakeElectron {
  app: FakeApp;
  BrowserWindow: typeof FakeBrowserWindow;
  ipcMain: FakeIpcMain;
  protocol: FakeProtocol;
  session: { defaultSession: FakeSession };
  dialog: FakeDialog;
  utilityProcess: FakeUtilityProcess;
  /** Set by tests that load a preload-side module. */
  contextBridge?: unknown;
  ipcRenderer?: unknown;
}

export function createFakeElectron(): FakeElectron {
  FakeBrowserWindow.created = [];
  return {
    app: new FakeApp(),
    BrowserWindow: FakeBrowserWindow,
    ipcMain: new FakeIpcMain(),
    protocol: new FakeProtocol(),
    session: { defaultSession: new FakeSession() },
    dialog: new FakeDialog(),
    utilityProcess: new FakeUtilityProcess(),
  };
}

/** Every request of 'electron' made while installed (to prove the real one was never loaded). */
export const electronRequests: string[] = [];

export function installElectronMock(fake: object): () => void {
  const M = Module as unknown as { _load: Loader };
  const original = M._load;
  M._load = function (this: unknown, request: string, parent: unknown, isMain: boolean) {
    if (request === 'electron') {
      electronRequests.push(request);
      return fake;
    }
    return original.call(this, request, parent, isMain);
  };
  return () => {
    M._load = original;
  };
}
