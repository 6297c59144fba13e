/**
 * socket.ts: GET /api/events as a WebSocket (ws, noServer: server.ts authenticates the upgrade
 * first). The client sends {type:'subscribe'|'unsubscribe', topic} (contract.ts
 * clientSocketMessage); the server answers 'subscribed'/'unsubscribed' and then pushes
 * {type:'event', topic, event}, JSON with NaN/Infinity as the contract's sentinels. A client that
 * falls more than 4 MiB behind loses step events (the next one carries the newest numbers) rather
 * than growing the server's memory. Closing the socket drops its subscriptions.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { clientSocketMessage, encodeJson, formatIssues, topicKey, type EventTopic, type LabEvent, type ServerSocketMessage } from '../api/contract.js';
import type { LabApiInstance } from '../api/lab-api.js';

const SLOW_CLIENT_BYTES = 4 * 1024 * 1024;

export class EventSockets {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

  constructor(private readonly api: LabApiInstance) {
    this.wss.on('connection', (ws) => this.attach(ws));
  }

  /** Completes an upgrade server.ts has already authenticated. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private attach(ws: WebSocket): void {
    const subs = new Map<string, { topic: EventTopic; listener: (e: LabEvent) => void }>();
    const send = (m: ServerSocketMessage): void => {
      if (ws.readyState === ws.OPEN) ws.send(encodeJson(m));
    };
    ws.on('message', (data, isBinary) => {
      let msg: unknown;
      try {
        msg = isBinary ? undefined : JSON.parse(data.toString());
      } catch {
        msg = undefined;
      }
      const parsed = clientSocketMessage.safeParse(msg);
      if (!parsed.success) {
        send({ type: 'error', message: msg === undefined ? 'messages are JSON text' : formatIssues(parsed.error.issues) });
        return;
      }
      const { type, topic } = parsed.data;
      const key = topicKey(topic);
      if (type === 'subscribe') {
        if (!subs.has(key)) {
          const listener = (event: LabEvent): void => {
            if (event.type === 'run.step' && ws.bufferedAmount > SLOW_CLIENT_BYTES) return;
            send({ type: 'event', topic, event });
          };
          subs.set(key, { topic, listener });
          this.api.events.subscribe(topic, listener);
        }
        send({ type: 'subscribed', topic });
      } else {
        const s = subs.get(key);
        if (s) {
          this.api.events.unsubscribe(s.topic, s.listener);
          subs.delete(key);
        }
        send({ type: 'unsubscribed', topic });
      }
    });
    ws.on('close', () => {
      for (const s of subs.values()) this.api.events.unsubscribe(s.topic, s.listener);
      subs.clear();
    });
    ws.on('error', () => ws.terminate());
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
