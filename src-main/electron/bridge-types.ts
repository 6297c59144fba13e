/**
 * bridge-types.ts: the type of `window.lshlab`, the API the preload exposes to the renderer with
 * contextBridge. The renderer imports it type-only (it compiles to nothing); the preload is typed
 * against it, so the two cannot drift. Operation names, payloads, results, topics and events are
 * the API contract's (src-main/api/contract.ts): the desktop app and serve mode speak the same API.
 *
 * Errors: every promise rejects with a plain object {code, message} (an ApiErrorCode; no stack),
 * never an Error instance, because contextBridge would drop an Error's extra fields.
 */
import type { ApiErrorCode, EventTopic, OpInput, OpName, OpResult, ServerSocketMessage } from '../api/contract.js';
import type { DatasetKind } from '../data/types.js';

/** What a rejected bridge promise carries. */
export interface BridgeError {
  code: ApiErrorCode;
  message: string;
}

/** One live event, exactly as serve mode's WebSocket delivers it. */
export type BridgeEventMessage = Extract<ServerSocketMessage, { type: 'event' }>;

export interface OpenFileDialogOptions {
  /** Picks the file filters for that dataset kind (all dataset formats when absent). */
  kind?: DatasetKind;
}

export interface LshlabBridge {
  /** Runs one API operation (validated in the main process against the contract). */
  call<O extends OpName>(op: O, payload?: OpInput<O>): Promise<OpResult<O>>;
  /** Starts delivering a topic's events to onEvent listeners (idempotent). */
  subscribe(topic: EventTopic): Promise<void>;
  /** Stops delivering a topic's events (idempotent). */
  unsubscribe(topic: EventTopic): Promise<void>;
  /** Listens to the events of subscribed topics; returns the function that stops listening. */
  onEvent(listener: (message: BridgeEventMessage) => void): () => void;
  /** The native open-file dialog: an absolute path for datasets.import, or null if cancelled. */
  openFileDialog(options?: OpenFileDialogOptions): Promise<string | null>;
  /** The local path of a File dropped on the page (Electron's webUtils.getPathForFile; '' if it
   *  has none), so a dropped file is imported by path instead of being uploaded. */
  pathForFile(file: unknown): string;
}

/** The names the preload exposes, exactly (the preload test checks this list). */
export const BRIDGE_FUNCTIONS = ['call', 'subscribe', 'unsubscribe', 'onEvent', 'openFileDialog', 'pathForFile'] as const satisfies ReadonlyArray<keyof LshlabBridge>;

/** `window` as the renderer sees it under Electron. */
export interface LshlabWindow {
  lshlab?: LshlabBridge;
}
