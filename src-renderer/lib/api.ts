/**
 * api.ts: the renderer's one API client. Two transports behind the same calls:
 *   - Electron: the preload exposes `window.lshlab` ({call, onEvent, openFileDialog}) through
 *     contextBridge; no network involved.
 *   - HTTP (`lshlab serve`): POST /api/<op> with a JSON body -> {ok:true,result} | {ok:false,error};
 *     live events on the WebSocket /api/events (reconnects with backoff); uploads by POST
 *     /api/upload?name=... with progress and cancel. Auth is the HttpOnly cookie the server set
 *     when the page was opened as /?token=T, so same-origin requests carry it by themselves.
 * Every failure becomes an ApiError whose message the pages show as is.
 */
import { decodeJson, encodeJson } from '../../src-main/api/contract-values.js';
import { topicKey, topicsOf } from '../../src-main/api/contract-types.js';
import type { EventTopic, LabEvent, OpInput, OpName, OpResult } from '../../src-main/api/contract.js';

export type { EventTopic, LabEvent };

export class ApiError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    /** zod-style issues from the server's validation, when it sent them (field path -> message). */
    public readonly issues: { path: (string | number)[]; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The preload's window.lshlab (src-main/electron/bridge-types.ts), loosely typed: the client
 *  tolerates a bridge that unwraps results or events itself. */
interface ElectronBridge {
  call(op: string, payload: unknown): Promise<unknown>;
  subscribe?(topic: EventTopic): Promise<void>;
  unsubscribe?(topic: EventTopic): Promise<void>;
  onEvent(cb: (e: unknown) => void): (() => void) | void;
  openFileDialog?(options?: unknown): Promise<string | string[] | null | undefined>;
  pathForFile?(file: File): string;
}

function bridge(): ElectronBridge | undefined {
  return (globalThis as unknown as { lshlab?: ElectronBridge }).lshlab;
}

export const transportName: 'electron' | 'http' = bridge() ? 'electron' : 'http';

/** The server's envelope, or a bare result from a bridge that already unwrapped it. */
function unwrap(body: unknown, status?: number): unknown {
  if (body && typeof body === 'object' && 'ok' in body) {
    const env = body as { ok: boolean; result?: unknown; error?: { code?: string; message?: string; issues?: ApiError['issues'] } };
    if (env.ok === true && 'result' in env) return env.result;
    if (env.ok === false) {
      const e = env.error ?? {};
      throw new ApiError(e.code ?? 'error', e.message ?? 'the request failed', e.issues ?? []);
    }
  }
  if (status !== undefined && status >= 400) throw new ApiError(`http_${status}`, `the server answered ${status}`);
  return body;
}

/** Calls operation `op` of the API contract. */
export async function call<O extends OpName>(op: O, payload: OpInput<O>): Promise<OpResult<O>> {
  const b = bridge();
  if (b) {
    try {
      return unwrap(await b.call(op, payload ?? {})) as OpResult<O>;
    } catch (err) {
      throw toApiError(err);
    }
  }
  let res: Response;
  try {
    res = await fetch(`api/${op}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: encodeJson(payload ?? {}),
    });
  } catch (err) {
    throw new ApiError('network', `cannot reach the lshlab server (${err instanceof Error ? err.message : String(err)})`);
  }
  let body: unknown;
  try {
    // decodeJson turns the server's NaN / Infinity sentinels back into numbers (a diverged loss).
    body = decodeJson(await res.text());
  } catch {
    throw new ApiError(`http_${res.status}`, `the server answered ${res.status} ${res.statusText} without JSON`);
  }
  return unwrap(body, res.status) as OpResult<O>;
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: string; message?: string };
  // Electron prefixes errors thrown across IPC with "Error invoking remote method '...': Error: ".
  const message = (e?.message ?? String(err)).replace(/^Error invoking remote method '[^']*': (\w*Error: )?/, '');
  return new ApiError(e?.code ?? 'error', message);
}

/** Message to show for any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- live events ------------------------------------------------------------------------------
//
// Pages subscribe to topics ({kind:'run', runId}, {kind:'runs'}, {kind:'jobs'}). Over HTTP the
// client tells the server which topics it wants ({type:'subscribe', topic}) and re-sends every
// subscription after a reconnect; under Electron the bridge delivers every event and we route by
// the contract's topicsOf().

type Listener = (e: LabEvent) => void;
const byTopic = new Map<string, { topic: EventTopic; listeners: Set<Listener> }>();
let socket: WebSocket | null = null;
let retryMs = 500;
let bridgeUnsubscribe: (() => void) | null = null;

const connectionListeners = new Set<(up: boolean) => void>();
let connectedNow = false;
function setConnected(up: boolean): void {
  connectedNow = up;
  for (const l of connectionListeners) l(up);
}

/** Follows whether the live event stream is up (HTTP transport; always up under Electron). */
export function onConnectionChange(cb: (up: boolean) => void): () => void {
  connectionListeners.add(cb);
  cb(connectedNow);
  return () => connectionListeners.delete(cb);
}

function deliver(topic: EventTopic, event: LabEvent): void {
  const entry = byTopic.get(topicKey(topic));
  if (!entry) return;
  for (const l of entry.listeners) {
    try {
      l(event);
    } catch (err) {
      console.error('event listener failed', err);
    }
  }
}

function send(msg: { type: 'subscribe' | 'unsubscribe'; topic: EventTopic }): void {
  const b = bridge();
  if (b) {
    // The Electron main process delivers only the topics asked for, like the server does.
    const ask = msg.type === 'subscribe' ? b.subscribe?.bind(b) : b.unsubscribe?.bind(b);
    if (ask) void ask(msg.topic).catch((err: unknown) => console.warn('event stream:', err));
    return;
  }
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function ensureStream(): void {
  const b = bridge();
  if (b) {
    if (!bridgeUnsubscribe) {
      const off = b.onEvent((raw) => {
        // The bridge may send bare events or the server's {type:'event', topic, event} frames.
        const frame = raw as { type?: string; topic?: EventTopic; event?: LabEvent };
        if (frame?.type === 'event' && frame.event) {
          if (frame.topic) deliver(frame.topic, frame.event);
          else for (const t of topicsOf(frame.event)) deliver(t, frame.event);
        } else for (const t of topicsOf(raw as LabEvent)) deliver(t, raw as LabEvent);
      });
      bridgeUnsubscribe = typeof off === 'function' ? off : () => {};
      setConnected(true);
    }
    return;
  }
  if (socket) return;
  const url = new URL('api/events', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => {
    retryMs = 500;
    setConnected(true);
    for (const { topic } of byTopic.values()) send({ type: 'subscribe', topic });
  };
  ws.onmessage = (m) => {
    let msg: { type?: string; topic?: EventTopic; event?: LabEvent; message?: string };
    try {
      msg = decodeJson(typeof m.data === 'string' ? m.data : '') as typeof msg;
    } catch {
      return;
    }
    if (msg.type === 'event' && msg.topic && msg.event) deliver(msg.topic, msg.event);
    else if (msg.type === 'error') console.warn('event stream:', msg.message);
  };
  ws.onclose = () => {
    socket = null;
    setConnected(false);
    // Reconnect while anyone listens; back off up to 10 s so a stopped server is not hammered.
    if (byTopic.size > 0) {
      setTimeout(ensureStream, retryMs);
      retryMs = Math.min(retryMs * 2, 10_000);
    }
  };
}

/** Receives the topic's live events until the returned function is called. */
export function subscribe(topic: EventTopic, cb: Listener): () => void {
  const key = topicKey(topic);
  let entry = byTopic.get(key);
  if (!entry) {
    entry = { topic, listeners: new Set() };
    byTopic.set(key, entry);
    send({ type: 'subscribe', topic });
  }
  entry.listeners.add(cb);
  ensureStream();
  return () => {
    const e = byTopic.get(key);
    if (!e) return;
    e.listeners.delete(cb);
    if (e.listeners.size === 0) {
      byTopic.delete(key);
      send({ type: 'unsubscribe', topic });
    }
  };
}

/** Electron only: the native open-file dialog; null when cancelled or not in Electron. */
export async function openFileDialog(): Promise<string | null> {
  const b = bridge();
  if (!b?.openFileDialog) return null;
  const r = await b.openFileDialog();
  if (Array.isArray(r)) return r[0] ?? null;
  return r ?? null;
}

/** Under Electron, the local path of a dropped file (imported by path, not uploaded); else null. */
export function pathOfDroppedFile(f: File): string | null {
  const b = bridge();
  const p = b?.pathForFile?.(f);
  return p ? p : null;
}
