/**
 * preload.test.ts: the compiled preload runs the way Electron runs a sandboxed preload: wrapped in
 * a function given (require, process, exports, module), with a require that knows 'electron' and
 * nothing else, so an accidental runtime import would fail here as it would in the app. It must
 * expose exactly window.lshlab = {call, subscribe, unsubscribe, onEvent, openFileDialog}, use the
 * channel names of channels.ts, unwrap the envelope, reject with a plain {code, message}, and hand
 * event listeners the message only (never the IpcRendererEvent and its `sender`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BRIDGE_FUNCTIONS, type LshlabBridge } from '../../src-main/electron/bridge-types.js';
import { IPC_CHANNELS } from '../../src-main/electron/channels.js';

const PRELOAD = path.join(__dirname, '..', '..', 'src-main', 'electron', 'preload.js');

interface Loaded {
  exposed: Array<{ key: string; api: LshlabBridge }>;
  invoked: Array<{ channel: string; args: unknown[] }>;
  ipc: EventEmitter;
  answers: Map<string, (...args: unknown[]) => unknown>;
  required: string[];
}

/** Runs preload.js like Electron's sandboxed renderer does, with fake contextBridge/ipcRenderer. */
function loadPreload(): Loaded {
  const exposed: Loaded['exposed'] = [];
  const invoked: Loaded['invoked'] = [];
  const answers: Loaded['answers'] = new Map();
  const required: string[] = [];
  const ipc = new EventEmitter();
  const ipcRenderer = Object.assign(ipc, {
    invoke: async (channel: string, ...args: unknown[]) => {
      invoked.push({ channel, args });
      const answer = answers.get(channel);
      if (!answer) throw new Error(`No handler registered for '${channel}'`);
      return answer(...args);
    },
  });
  const contextBridge = { exposeInMainWorld: (key: string, api: LshlabBridge) => exposed.push({ key, api }) };
  const sandboxRequire = (name: string) => {
    required.push(name);
    if (name === 'electron') return { contextBridge, ipcRenderer, webUtils: { getPathForFile: (f: { path?: string }) => f.path ?? '' } };
    throw new Error(`module not found: ${name}`);
  };
  const source = fs.readFileSync(PRELOAD, 'utf8');
  const wrapped = new Function('require', 'process', 'exports', 'module', source);
  const exports = {};
  wrapped(sandboxRequire, { sandboxed: true }, exports, { exports });
  return { exposed, invoked, ipc, answers, required };
}

test('the preload requires electron only and exposes exactly the bridge functions', () => {
  const { exposed, required } = loadPreload();
  assert.deepEqual(required, ['electron']);
  assert.equal(exposed.length, 1);
  assert.equal(exposed[0]!.key, 'lshlab');
  assert.deepEqual(Object.keys(exposed[0]!.api).sort(), [...BRIDGE_FUNCTIONS].sort());
  for (const f of BRIDGE_FUNCTIONS) assert.equal(typeof exposed[0]!.api[f], 'function', f);
  assert.equal(exposed[0]!.api.pathForFile({ path: '/data/sst2.tsv' }), '/data/sst2.tsv', 'a dropped file is read where it is');
  // Nothing of ipcRenderer itself leaks through.
  assert.ok(!Object.values(exposed[0]!.api).some((v) => v === undefined || (typeof v === 'object' && v !== null)));
});

test('the preload uses the channel names of channels.ts', async () => {
  const { exposed, invoked, answers } = loadPreload();
  for (const ch of Object.values(IPC_CHANNELS)) answers.set(ch, () => ({ ok: true, result: null }));
  const api = exposed[0]!.api;
  await api.call('datasets.list', {});
  await api.subscribe({ kind: 'runs' });
  await api.unsubscribe({ kind: 'runs' });
  await api.openFileDialog({ kind: 'qa' });
  assert.deepEqual(invoked, [
    { channel: IPC_CHANNELS.call, args: ['datasets.list', {}] },
    { channel: IPC_CHANNELS.subscribe, args: [{ kind: 'runs' }] },
    { channel: IPC_CHANNELS.unsubscribe, args: [{ kind: 'runs' }] },
    { channel: IPC_CHANNELS.openFileDialog, args: [{ kind: 'qa' }] },
  ]);
  const source = fs.readFileSync(PRELOAD, 'utf8');
  assert.ok(source.includes(`'${IPC_CHANNELS.event}'`), 'event channel name');
});

test('call unwraps the envelope: the result, or a rejection with a plain {code, message}', async () => {
  const { exposed, answers } = loadPreload();
  const api = exposed[0]!.api;
  answers.set(IPC_CHANNELS.call, (op) => (op === 'runs.show' ? { ok: false, error: { code: 'not-found', message: "no run 'x'" } } : { ok: true, result: [{ name: 'sst2' }] }));
  assert.deepEqual(await api.call('datasets.list'), [{ name: 'sst2' }]);
  const err = await api.call('runs.show', { run: 'x' }).then(() => undefined, (e: unknown) => e);
  assert.deepEqual(err, { code: 'not-found', message: "no run 'x'" });
  assert.ok(!(err instanceof Error), 'a plain object survives contextBridge with its code');
  // No handler in main (or main died): the same shape.
  answers.delete(IPC_CHANNELS.call);
  const gone = (await api.call('datasets.list').catch((e: unknown) => e)) as { code: string; message: string };
  assert.equal(gone.code, 'internal');
  assert.match(gone.message, /No handler registered/);
  answers.set(IPC_CHANNELS.call, () => 'garbage');
  assert.equal(((await api.call('datasets.list').catch((e: unknown) => e)) as { code: string }).code, 'internal');
});

test('onEvent hands listeners the message only, and its return value stops them', () => {
  const { exposed, ipc } = loadPreload();
  const api = exposed[0]!.api;
  const got: unknown[][] = [];
  const stop = api.onEvent((...args: unknown[]) => got.push(args));
  const message = { type: 'event', topic: { kind: 'runs' }, event: { type: 'run.status', runId: 1, status: 'running', text: null } };
  ipc.emit(IPC_CHANNELS.event, { sender: 'the ipcRenderer, must not leak' }, message);
  assert.deepEqual(got, [[message]]);
  stop();
  ipc.emit(IPC_CHANNELS.event, {}, message);
  assert.equal(got.length, 1);
  assert.equal(ipc.listenerCount(IPC_CHANNELS.event), 0);
  assert.throws(() => api.onEvent('not a function' as never), /needs a function/);
});
