/**
 * events.test.ts: live events reach the page that subscribed, as {type: 'event', topic, event}
 * (serve mode's WebSocket message), per topic, idempotently; unsubscribing or closing the page
 * releases the API subscription; foreign senders and malformed topics are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topicKey, type EventTopic, type LabApi, type LabEvent } from '../../src-main/api/contract.js';
import { IPC_CHANNELS } from '../../src-main/electron/channels.js';
import { setupEvents } from '../../src-main/electron/events.js';
import { FakeIpcMain, FakeWebContents, senderEvent } from './fakes.js';

const APP = 'app://lshlab/index.html';

/** A LabApi event bus: emit(topic, event) delivers to that topic's listeners. */
function fakeEvents() {
  const listeners = new Map<string, Set<(e: LabEvent) => void>>();
  const events: LabApi['events'] = {
    subscribe(topic, listener) {
      const key = topicKey(topic);
      if (!listeners.has(key)) listeners.set(key, new Set());
      listeners.get(key)!.add(listener);
      return () => listeners.get(key)!.delete(listener);
    },
    unsubscribe(topic, listener) {
      listeners.get(topicKey(topic))?.delete(listener);
    },
  };
  const count = () => [...listeners.values()].reduce((n, s) => n + s.size, 0);
  const emit = (topic: EventTopic, e: LabEvent) => listeners.get(topicKey(topic))?.forEach((l) => l(e));
  return { api: { events }, count, emit };
}

const step = (runId: number, s: number): LabEvent =>
  ({ type: 'run.step', runId, step: s, totalSteps: 10, epoch: 0, loss: s === 3 ? NaN : 1 / s, lr: 1e-3, gradNorm: 1, tokensPerS: 100 }) as LabEvent;

function setup() {
  const ipcMain = new FakeIpcMain();
  const bus = fakeEvents();
  const relay = setupEvents(ipcMain as never, bus.api, () => undefined);
  const page = new FakeWebContents();
  const ask = (kind: 'subscribe' | 'unsubscribe', topic: unknown, url: string | null = APP) => ipcMain.invoke(IPC_CHANNELS[kind], senderEvent(url, page), topic);
  return { ipcMain, bus, relay, page, ask };
}

test('a subscribed page receives its topic events as the WebSocket message; others do not', async () => {
  const { bus, page, ask } = setup();
  const topic = { kind: 'run', runId: 7 } as const;
  assert.deepEqual(await ask('subscribe', topic), { ok: true, result: null });
  bus.emit(topic, step(7, 1));
  bus.emit({ kind: 'run', runId: 8 }, step(8, 1));
  bus.emit(topic, step(7, 3));
  assert.deepEqual(page.sent.map((s) => s.channel), [IPC_CHANNELS.event, IPC_CHANNELS.event]);
  assert.deepEqual(page.sent[0]!.args, [{ type: 'event', topic, event: step(7, 1) }]);
  assert.ok(Number.isNaN((page.sent[1]!.args[0] as { event: { loss: number } }).event.loss));
});

test('subscribing twice is one subscription; unsubscribe releases it', async () => {
  const { bus, page, relay, ask } = setup();
  await ask('subscribe', { kind: 'runs' });
  await ask('subscribe', { kind: 'runs' });
  await ask('subscribe', { kind: 'jobs' });
  assert.equal(bus.count(), 2);
  assert.deepEqual(relay.topicsOf(page.id).sort(), ['jobs', 'runs']);
  assert.deepEqual(await ask('unsubscribe', { kind: 'runs' }), { ok: true, result: null });
  assert.deepEqual(await ask('unsubscribe', { kind: 'runs' }), { ok: true, result: null });
  assert.equal(bus.count(), 1);
});

test('a destroyed page drops all its subscriptions', async () => {
  const { bus, page, ask } = setup();
  await ask('subscribe', { kind: 'runs' });
  await ask('subscribe', { kind: 'run', runId: 1 });
  page.destroy();
  assert.equal(bus.count(), 0);
  bus.emit({ kind: 'runs' }, step(1, 1));
  assert.equal(page.sent.length, 0);
});

test('foreign senders and malformed topics are refused', async () => {
  const { bus, ask } = setup();
  const foreign = (await ask('subscribe', { kind: 'runs' }, 'https://evil.example/')) as { ok: boolean; error: { code: string } };
  assert.equal(foreign.error.code, 'forbidden');
  for (const topic of [{ kind: 'run' }, { kind: 'run', runId: -1 }, { kind: 'everything' }, 'runs', null, { kind: 'runs', extra: 1 }]) {
    const r = (await ask('subscribe', topic)) as { ok: boolean; error: { code: string; message: string } };
    assert.equal(r.error.code, 'bad-request', JSON.stringify(topic));
    assert.match(r.error.message, /^subscribe: topic/, JSON.stringify(topic));
  }
  assert.equal(bus.count(), 0);
});
