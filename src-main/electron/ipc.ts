/**
 * ipc.ts: the main-process end of `window.lshlab.call(op, payload)`. One invoke channel,
 * IPC_CHANNELS.call, carries (op, payload) to the transport-agnostic LabApi (src-main/api/) and
 * answers with the contract's envelope, ApiResponse: {ok: true, result} or {ok: false, error:
 * {code, message}}. The envelope, not a thrown error, because Electron turns a handler's throw
 * into "Error invoking remote method ...: Error: ..." and loses the code.
 *
 * Every message is checked before it does anything (security checklist item 17):
 *   1. the sender: the frame that sent it must be a page of our app:// origin (a frame elsewhere,
 *      or one that has gone away, is refused with 'forbidden');
 *   2. the op: a name of the contract's OPERATIONS ('not-found' otherwise, as createLabApi says);
 *   3. the payload: the op's zod schema (parsePayload), so a malformed payload is refused here
 *      with a message naming the field, before the API sees it (the API validates again: it is
 *      transport-agnostic and cannot trust its callers either).
 * Errors leave as {code, message}: never a stack, and an unexpected error's details are logged in
 * the main process, not sent.
 *
 * It does not import electron at runtime (main.ts passes ipcMain in), and does not do the work.
 */
import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import { ApiError, isOpName, parsePayload, type ApiErrorCode, type ApiResponse, type LabApi } from '../api/contract.js';
import { IPC_CHANNELS } from './channels.js';
import { isAppUrl } from './protocol.js';

export type IpcLog = (message: string) => void;
const defaultLog: IpcLog = (m) => process.stderr.write(`lshlab: ${m}\n`);

/** The part of an invoke event the sender check reads. */
export type SenderEvent = Pick<IpcMainInvokeEvent, 'senderFrame'>;

/** Did this message come from a frame of our own renderer (app://lshlab)? */
export function isTrustedSender(event: SenderEvent): boolean {
  let url: string | undefined;
  try {
    // senderFrame is null once the frame navigated away or was destroyed; reading .url of a
    // disposed frame throws in some Electron versions.
    url = event.senderFrame?.url;
  } catch {
    return false;
  }
  return isAppUrl(url);
}

/** Any thrown value as the wire error: {code, message}, no stack. */
export function toWireError(err: unknown, log: IpcLog = defaultLog): { code: ApiErrorCode; message: string } {
  if (err instanceof ApiError) return { code: err.code, message: err.message };
  // Not an ApiError: a bug or an environment problem. The message is useful to the person at
  // the screen; the stack goes to the main process's log only.
  const e = err instanceof Error ? err : new Error(String(err));
  log(`internal error: ${e.stack ?? e.message}`);
  return { code: 'internal', message: e.message || 'internal error' };
}

export function failure(code: ApiErrorCode, message: string): ApiResponse<never> {
  return { ok: false, error: { code, message } };
}

export const FOREIGN_SENDER_MESSAGE = 'this request did not come from the lshlab window';

/** Handles one call message (exported for tests; setupIpc registers it). */
export async function handleCall(api: LabApi, event: SenderEvent, op: unknown, payload: unknown, log: IpcLog = defaultLog): Promise<ApiResponse<unknown>> {
  if (!isTrustedSender(event)) {
    log(`refused an API call from ${describeSender(event)}`);
    return failure('forbidden', FOREIGN_SENDER_MESSAGE);
  }
  // 'not-found' like createLabApi and serve mode answer an unknown operation.
  if (typeof op !== 'string' || !isOpName(op)) return failure('not-found', `unknown operation '${String(op)}'`);
  try {
    parsePayload(op, payload);
    // Transports pass what they received; the API validates it again (see LabApi.call).
    return { ok: true, result: await api.call(op, payload as never) };
  } catch (err) {
    return { ok: false, error: toWireError(err, log) };
  }
}

function describeSender(event: SenderEvent): string {
  try {
    return event.senderFrame ? `a frame at ${event.senderFrame.url}` : 'a frame that no longer exists';
  } catch {
    return 'a disposed frame';
  }
}

/** Registers the call channel; returns the function that removes it (app shutdown, tests). */
export function setupIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, api: LabApi, log: IpcLog = defaultLog): () => void {
  ipcMain.handle(IPC_CHANNELS.call, (event, op: unknown, payload: unknown) => handleCall(api, event, op, payload, log));
  return () => ipcMain.removeHandler(IPC_CHANNELS.call);
}
