/**
 * channels.ts: the IPC channel names between the preload and the main process, in one place
 * (Fiddle's ipc-events.ts idea). One channel per kind of message, never a generic "send anything".
 *
 * preload.ts cannot import this file at runtime (a sandboxed preload may only require 'electron'),
 * so it repeats the strings; test/electron/preload.test.ts checks that the two agree.
 */
export const IPC_CHANNELS = {
  /** invoke: (op, payload) -> ApiResponse (the envelope: {ok, result} | {ok: false, error}). */
  call: 'lshlab:call',
  /** invoke: (topic) -> ApiResponse<null>; starts delivering that topic's events to the sender. */
  subscribe: 'lshlab:subscribe',
  /** invoke: (topic) -> ApiResponse<null>. */
  unsubscribe: 'lshlab:unsubscribe',
  /** main -> renderer: {type: 'event', topic, event}, the same message serve mode's WebSocket sends. */
  event: 'lshlab:event',
  /** invoke: (options?) -> ApiResponse<string | null>: a file chosen in the native dialog. */
  openFileDialog: 'lshlab:open-file-dialog',
} as const;

export type IpcChannel = (typeof IPC_CHANNELS)[keyof typeof IPC_CHANNELS];
