/**
 * security.ts: the guards every web page of the app lives under (Electron security checklist items
 * 5, 13, 14 and "no remote content"):
 *   - navigation: a page may only navigate within app://lshlab (a reload or an in-app link);
 *     anything else (http, file, javascript:, other schemes) is prevented, in main and sub frames,
 *     and so is a redirect out of the app;
 *   - new windows: window.open and target=_blank are denied, always;
 *   - <webview>: never attached;
 *   - permissions (camera, notifications, clipboard-read, ...): every request and check is denied;
 *   - network: requests to http(s), ws(s), ftp and file URLs are cancelled at the session, so
 *     even a bug in the CSP could not pull remote content into the window.
 * guardWebContents runs for EVERY webContents (the web-contents-created hook), not only the main
 * window's, so a devtools or future window gets the same rules.
 *
 * It does not import electron at runtime: main.ts passes `app` and the session in.
 */
import type { App, Session, WebContents } from 'electron';
import { isAppUrl } from './protocol.js';

/** URL patterns of every request the app never makes (all its content comes from app://). */
export const BLOCKED_REQUEST_URLS = ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'ftp://*/*', 'file://*/*'];

type NavigationEvent = { preventDefault(): void; url?: string };

/** Logs what was blocked (once per kind of thing is plenty; this is a local desktop app). */
export type SecurityLog = (message: string) => void;
const defaultLog: SecurityLog = (m) => process.stderr.write(`lshlab: ${m}\n`);

// window.ts guards its own window and web-contents-created guards every webContents: once is enough.
const guarded = new WeakSet<object>();

/** Installs the navigation, window-open and webview guards on one webContents (idempotent). */
export function guardWebContents(contents: WebContents, log: SecurityLog = defaultLog): void {
  if (guarded.has(contents)) return;
  guarded.add(contents);
  const refuseForeign = (kind: string) => (event: NavigationEvent, urlArg?: string) => {
    const url = event.url ?? urlArg ?? '';
    if (isAppUrl(url)) return;
    event.preventDefault();
    log(`blocked ${kind} to ${url}`);
  };
  contents.on('will-navigate', refuseForeign('navigation'));
  contents.on('will-frame-navigate', refuseForeign('frame navigation'));
  contents.on('will-redirect', refuseForeign('redirect'));
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    log('blocked a <webview>');
  });
  contents.setWindowOpenHandler((details) => {
    log(`blocked a new window for ${details.url}`);
    return { action: 'deny' };
  });
}

/** Session-wide: deny every permission, cancel every network request. */
export function secureSession(session: Session, log: SecurityLog = defaultLog): void {
  session.setPermissionRequestHandler((_contents, permission, callback) => {
    log(`denied permission '${permission}'`);
    callback(false);
  });
  session.setPermissionCheckHandler(() => false);
  session.webRequest.onBeforeRequest({ urls: BLOCKED_REQUEST_URLS }, (details, callback) => {
    log(`blocked a request to ${details.url}`);
    callback({ cancel: true });
  });
}

/** Guards every webContents the app ever creates (install before the first window). */
export function setupWebContentsGuard(app: Pick<App, 'on'>, log: SecurityLog = defaultLog): void {
  app.on('web-contents-created', (_event, contents) => guardWebContents(contents, log));
}
