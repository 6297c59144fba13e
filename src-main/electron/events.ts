/**
 * events.ts: live events from the LabApi to the renderer. A page subscribes to topics
 * (`window.lshlab.subscribe({kind: 'run', runId})`, or {kind: 'runs'} / {kind: 'jobs'}: the
 * contract's EventTopic); from then on every event of that topic is pushed to that page's
 * webContents on IPC_CHANNELS.event as {type: 'event', topic, event}, the same message serve mode's
 * WebSocket sends, so the renderer parses one format for both transports.
 *
 * Subscriptions belong to the webContents that asked: idempotent per topic, dropped when it
 * unsubscribes or is destroyed (window closed, renderer gone), so nothing leaks listeners into the
 * API. Sender and topic are checked like ipc.ts's calls (our origin only; the topic against the
 * contract's socket-message schema).
 *
 * It does not import electron at runtime (main.ts passes ipcMain in) and knows nothing of what the
 * events mean.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { clientSocketMessage, formatIssues, topicKey, type ApiResponse, type EventTopic, type LabApi, type LabEvent } from '../api/contract.js';
import { IPC_CHANNELS } from './channels.js';
import { failure, FOREIGN_SENDER_MESSAGE, isTrustedSender, type IpcLog } from './ipc.js';

/** The part of a webContents events.ts uses. */
export type EventReceiver = Pick<WebContents, 'id' | 'send' | 'isDestroyed' | 'once'>;

type SubscribeEvent = Pick<IpcMainInvokeEvent, 'senderFrame'> & { sender: EventReceiver };

/** Parses a topic sent by a page; a message naming the field when it is not one. */
export function parseTopic(raw: unknown): { topic: EventTopic } | { error: string } {
  const r = clientSocketMessage.safeParse({ type: 'subscribe', topic: raw });
  if (!r.success) return { error: formatIssues(r.error.issues) };
  return { topic: r.data.topic };
}

export class EventRelay {
  /** webContents id -> (topic key -> the API unsubscribe of that topic). */
  private readonly subscriptions = new Map<number, Map<string, () => void>>();

  constructor(
    private readonly api: Pick<LabApi, 'events'>,
    private readonly log: IpcLog = (m) => process.stderr.write(`lshlab: ${m}\n`),
  ) {}

  subscribe(target: EventReceiver, topic: EventTopic): void {
    let topics = this.subscriptions.get(target.id);
    if (!topics) {
      topics = new Map();
      this.subscriptions.set(target.id, topics);
      target.once('destroyed', () => this.dropAll(target.id));
    }
    const key = topicKey(topic);
    if (topics.has(key)) return;
    const listener = (event: LabEvent) => {
      if (target.isDestroyed()) return this.dropAll(target.id);
      target.send(IPC_CHANNELS.event, { type: 'event', topic, event });
    };
    topics.set(key, this.api.events.subscribe(topic, listener));
  }

  unsubscribe(target: Pick<EventReceiver, 'id'>, topic: EventTopic): void {
    const topics = this.subscriptions.get(target.id);
    const key = topicKey(topic);
    const stop = topics?.get(key);
    if (!stop) return;
    topics!.delete(key);
    stop();
  }

  /** Topic keys a webContents is subscribed to (for tests and diagnostics). */
  topicsOf(id: number): string[] {
    return [...(this.subscriptions.get(id)?.keys() ?? [])];
  }

  dropAll(id: number): void {
    const topics = this.subscriptions.get(id);
    if (!topics) return;
    this.subscriptions.delete(id);
    for (const stop of topics.values()) {
      try {
        stop();
      } catch (err) {
        this.log(`could not unsubscribe: ${(err as Error).message}`);
      }
    }
  }

  dispose(): void {
    for (const id of [...this.subscriptions.keys()]) this.dropAll(id);
  }

  /** The invoke handler of the subscribe and unsubscribe channels. */
  handle(kind: 'subscribe' | 'unsubscribe', event: SubscribeEvent, rawTopic: unknown): ApiResponse<null> {
    if (!isTrustedSender(event)) {
      this.log(`refused an event ${kind} from outside the app`);
      return failure('forbidden', FOREIGN_SENDER_MESSAGE);
    }
    const parsed = parseTopic(rawTopic);
    if ('error' in parsed) return failure('bad-request', `${kind}: ${parsed.error}`);
    if (kind === 'subscribe') this.subscribe(event.sender, parsed.topic);
    else this.unsubscribe(event.sender, parsed.topic);
    return { ok: true, result: null };
  }
}

/** Registers the subscribe/unsubscribe channels; returns the relay (dispose it at shutdown). */
export function setupEvents(ipcMain: Pick<IpcMain, 'handle'>, api: Pick<LabApi, 'events'>, log?: IpcLog): EventRelay {
  const relay = new EventRelay(api, log);
  ipcMain.handle(IPC_CHANNELS.subscribe, (event, topic: unknown) => relay.handle('subscribe', event, topic));
  ipcMain.handle(IPC_CHANNELS.unsubscribe, (event, topic: unknown) => relay.handle('unsubscribe', event, topic));
  return relay;
}
