/**
 * fakes.ts: stand-ins for the Electron objects the shell touches (BrowserWindow, webContents,
 * session, ipcMain, protocol, app, dialog, utilityProcess), after Electron Fiddle's
 * tests/mocks/. They record what was asked of them and let a test play Electron's part (emit
 * 'will-navigate', invoke an IPC channel). They are not Electron: behaviour a test relies on is
 * written here on purpose, and nothing here can tell whether real Electron behaves the same.
 */
import { EventEmitter } from 'node:events';

let nextContentsId = 1;

/** A navigation-like event: records preventDefault. */
export function fakeEvent<T extends object>(extra: T = {} as T): T & { preventDefault(): void; defaultPrevented: boolean } {
  const e = {
    ...extra,
    defaultPrevented: false,
    preventDefault() {
      e.defaultPrevented = true;
    },
  };
  return e;
}

export class FakeWebContents extends EventEmitter {
  readonly id = nextContentsId++;
  readonly sent: Array<{ channel: string; args: unknown[] }> = [];
  windowOpenHandler: ((details: { url: string }) => { action: string }) | undefined;
  destroyed = false;
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  setWindowOpenHandler(h: (details: { url: string }) => { action: string }): void {
    this.windowOpenHandler = h;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('destroyed');
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static created: FakeBrowserWindow[] = [];
  static getAllWindows(): FakeBrowserWindow[] {
    return FakeBrowserWindow.created.filter((w) => !w.closed);
  }
  static fromWebContents(c: unknown): FakeBrowserWindow | null {
    return FakeBrowserWindow.created.find((w) => w.webContents === c) ?? null;
  }
  readonly webContents = new FakeWebContents();
  readonly loaded: string[] = [];
  visible = false;
  minimized = false;
  focused = false;
  closed = false;
  constructor(readonly options: Record<string, any>) {
    super();
    FakeBrowserWindow.created.push(this);
  }
  loadURL(url: string): Promise<void> {
    this.loaded.push(url);
    return Promise.resolve();
  }
  show(): void {
    this.visible = true;
  }
  isVisible(): boolean {
    return this.visible;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  restore(): void {
    this.minimized = false;
  }
  focus(): void {
    this.focused = true;
  }
}

/** ipcMain: records handlers; invoke() plays a renderer's ipcRenderer.invoke. */
export class FakeIpcMain {
  readonly handlers = new Map<string, (event: any, ...args: any[]) => unknown>();
  handle(channel: string, h: (event: any, ...args: any[]) => unknown): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, h);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  async invoke(channel: string, event: unknown, ...args: unknown[]): Promise<unknown> {
    const h = this.handlers.get(channel);
    if (!h) throw new Error(`No handler registered for '${channel}'`);
    return h(event, ...args);
  }
}

/** An invoke event from a frame at `url` (null: the frame is gone). */
export function senderEvent(url: string | null, sender: FakeWebContents = new FakeWebContents()): { senderFrame: { url: string } | null; sender: FakeWebContents } {
  return { senderFrame: url === null ? null : { url }, sender };
}

export class FakeSession {
  permissionRequestHandler: ((wc: unknown, permission: string, cb: (granted: boolean) => void, details?: unknown) => void) | undefined;
  permissionCheckHandler: ((...args: unknown[]) => boolean) | undefined;
  beforeRequest: { filter: { urls: string[] }; listener: (details: { url: string }, cb: (r: { cancel?: boolean }) => void) => void } | undefined;
  readonly webRequest = {
    onBeforeRequest: (filter: { urls: string[] }, listener: NonNullable<FakeSession['beforeRequest']>['listener']) => {
      this.beforeRequest = { filter, listener };
    },
  };
  setPermissionRequestHandler(h: FakeSession['permissionRequestHandler']): void {
    this.permissionRequestHandler = h;
  }
  setPermissionCheckHandler(h: FakeSession['permissionCheckHandler']): void {
    this.permissionCheckHandler = h;
  }
}

export class FakeProtocol {
  readonly privileged: unknown[] = [];
  readonly handlers = new Map<string, (request: Request) => Response | Promise<Response>>();
  registerSchemesAsPrivileged(schemes: unknown[]): void {
    this.privileged.push(...schemes);
  }
  handle(scheme: string, h: (request: Request) => Response | Promise<Response>): void {
    this.handlers.set(scheme, h);
  }
}

export class FakeApp extends EventEmitter {
  readonly calls: string[] = [];
  lockGranted = true;
  isPackaged = false;
  private readyResolve!: () => void;
  private readonly ready = new Promise<void>((r) => (this.readyResolve = r));
  requestSingleInstanceLock(): boolean {
    this.calls.push('requestSingleInstanceLock');
    return this.lockGranted;
  }
  whenReady(): Promise<void> {
    this.calls.push('whenReady');
    return this.ready;
  }
  /** Plays Electron's 'ready'. */
  becomeReady(): void {
    this.calls.push('ready');
    this.readyResolve();
    this.emit('ready');
  }
  quit(): void {
    this.calls.push('quit');
  }
  getAppPath(): string {
    return process.cwd();
  }
  getPath(name: string): string {
    return `/tmp/fake-electron-${name}`;
  }
}

/** A utilityProcess child: records postMessage/kill; emit('message' | 'exit' | 'spawn') plays it. */
export class FakeUtilityChild extends EventEmitter {
  readonly posted: unknown[] = [];
  killed = 0;
  pid: number | undefined = undefined;
  postMessage(m: unknown): void {
    this.posted.push(m);
  }
  kill(): boolean {
    this.killed += 1;
    return true;
  }
}

export class FakeUtilityProcess {
  readonly forks: Array<{ modulePath: string; args: string[] | undefined; options: Record<string, any> | undefined; child: FakeUtilityChild }> = [];
  fork(modulePath: string, args?: string[], options?: Record<string, any>): FakeUtilityChild {
    const child = new FakeUtilityChild();
    this.forks.push({ modulePath, args, options, child });
    return child as never;
  }
}

export class FakeDialog {
  readonly calls: Array<{ window: unknown; options: Record<string, any> }> = [];
  answer: { canceled: boolean; filePaths: string[] } = { canceled: false, filePaths: ['/data/sst2/train.tsv'] };
  async showOpenDialog(a: unknown, b?: unknown): Promise<{ canceled: boolean; filePaths: string[] }> {
    const [window, options] = b === undefined ? [null, a] : [a, b];
    this.calls.push({ window, options: options as Record<string, any> });
    return this.answer;
  }
}
