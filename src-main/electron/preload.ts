/**
 * preload.ts: runs in the sandboxed renderer before the page and exposes `window.lshlab`
 * (bridge-types.ts: LshlabBridge) with contextBridge, one function per IPC message (security
 * checklist: never hand the page ipcRenderer itself). The page gets:
 *   call(op, payload)         invoke IPC_CHANNELS.call; resolves with the result, or rejects with
 *                             a plain {code, message} (contextBridge drops an Error's fields)
 *   subscribe / unsubscribe   invoke the topic channels (events.ts)
 *   onEvent(listener)         listens on IPC_CHANNELS.event; returns the function that stops it.
 *                             The listener gets the message only, never the IpcRendererEvent
 *                             (which would expose `sender`, i.e. ipcRenderer)
 *   openFileDialog(options)   invoke the dialog channel (dialogs.ts)
 *   pathForFile(file)         the path of a dropped File (webUtils; sandboxed pages cannot see it)
 *
 * Sandboxed preloads may only require('electron'): this file imports nothing else at runtime
 * (type imports vanish), which is why the channel names are repeated here rather than imported
 * from channels.ts; test/electron/preload.test.ts loads the compiled file with a require that
 * allows 'electron' alone and checks the names against channels.ts.
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { ApiResponse } from '../api/contract.js';
import type { BridgeError, BridgeEventMessage, LshlabBridge } from './bridge-types.js';

const CALL = 'lshlab:call';
const SUBSCRIBE = 'lshlab:subscribe';
const UNSUBSCRIBE = 'lshlab:unsubscribe';
const EVENT = 'lshlab:event';
const OPEN_FILE_DIALOG = 'lshlab:open-file-dialog';

/** Unwraps the main process's envelope: the result, or a rejection with {code, message}. */
async function invoke<T>(channel: string, ...args: unknown[]): Promise<T> {
  let response: ApiResponse<T>;
  try {
    response = (await ipcRenderer.invoke(channel, ...args)) as ApiResponse<T>;
  } catch (err) {
    // Only when the main process has no handler or died: still the same rejection shape.
    const error: BridgeError = { code: 'internal', message: err instanceof Error ? err.message : String(err) };
    throw error;
  }
  if (response && response.ok === true) return response.result;
  const error: BridgeError = response && response.ok === false ? { code: response.error.code, message: response.error.message } : { code: 'internal', message: 'malformed answer from the main process' };
  throw error;
}

const bridge: LshlabBridge = {
  call: (op, payload) => invoke(CALL, op, payload),
  subscribe: (topic) => invoke<null>(SUBSCRIBE, topic).then(() => undefined),
  unsubscribe: (topic) => invoke<null>(UNSUBSCRIBE, topic).then(() => undefined),
  onEvent(listener) {
    if (typeof listener !== 'function') throw new TypeError('onEvent needs a function');
    const relay = (_event: unknown, message: BridgeEventMessage) => listener(message);
    ipcRenderer.on(EVENT, relay);
    return () => {
      ipcRenderer.removeListener(EVENT, relay);
    };
  },
  openFileDialog: (options) => invoke<string | null>(OPEN_FILE_DIALOG, options),
  pathForFile: (file) => webUtils.getPathForFile(file as Parameters<typeof webUtils.getPathForFile>[0]),
};

contextBridge.exposeInMainWorld('lshlab', bridge);
