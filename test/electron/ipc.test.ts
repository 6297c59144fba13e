/**
 * ipc.test.ts: the call channel. A frame outside app://lshlab (or a frame that is gone) is refused
 * before the API is touched; unknown ops and malformed payloads are refused with the contract's
 * message naming the field; a valid call reaches the API (a recording fake LabApi) and its result
 * comes back in the envelope; API errors keep their code, other errors become 'internal' with the
 * message and no stack. Also the native file dialog's channel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, type LabApi } from '../../src-main/api/contract.js';
import { IPC_CHANNELS } from '../../src-main/electron/channels.js';
import { handleCall, setupIpc } from '../../src-main/electron/ipc.js';
import { datasetFileFilters, setupDialogs } from '../../src-main/electron/dialogs.js';
import { FakeBrowserWindow, FakeDialog, FakeIpcMain, senderEvent } from './fakes.js';

const APP = 'app://lshlab/index.html';
const quiet = () => undefined;

/** A LabApi that records calls and answers from a table (or throws what it is told). */
function fakeApi(answer: (op: string, payload: unknown) => unknown = (op) => ({ op })): LabApi & { calls: Array<{ op: string; payload: unknown }> } {
  const calls: Array<{ op: string; payload: unknown }> = [];
  return {
    calls,
    call: (async (op: string, payload: unknown) => {
      calls.push({ op, payload });
      return answer(op, payload);
    }) as LabApi['call'],
    events: { subscribe: () => () => undefined, unsubscribe: () => undefined },
  };
}

test('a call from a frame outside our origin is refused and never reaches the API', async () => {
  const api = fakeApi();
  for (const url of ['https://evil.example/', 'file:///home/u/index.html', 'app://evil/index.html', 'devtools://devtools/bundled/x.html', 'about:blank', '', null]) {
    const r = await handleCall(api, senderEvent(url) as never, 'runs.list', {}, quiet);
    assert.deepEqual(r, { ok: false, error: { code: 'forbidden', message: 'this request did not come from the lshlab window' } }, String(url));
  }
  const disposed = { get senderFrame(): never { throw new Error('Render frame was disposed before WebFrameMain could be accessed'); } };
  assert.equal(((await handleCall(api, disposed as never, 'runs.list', {}, quiet)) as { ok: boolean }).ok, false);
  assert.equal(api.calls.length, 0);
});

test('unknown operations are refused', async () => {
  const api = fakeApi();
  for (const op of ['runs.drop', '__proto__', 'constructor', 42, undefined]) {
    const r = await handleCall(api, senderEvent(APP) as never, op, {}, quiet);
    assert.equal(r.ok, false);
    assert.equal((r as { error: { code: string } }).error.code, 'not-found', String(op));
  }
  assert.equal(api.calls.length, 0);
});

test('malformed payloads are refused with a message naming the field', async () => {
  const api = fakeApi();
  const cases: Array<[string, unknown, RegExp]> = [
    ['runs.show', { run: 5 }, /runs\.show: run: /],
    ['runs.show', {}, /runs\.show: run: /],
    ['runs.list', { limit: 0 }, /limit/],
    ['runs.list', { sort: { field: 'nope', dir: 'asc' } }, /sort\.field/],
    ['runs.note', { run: '1', notes: 'x', extra: true }, /extra: unknown field/],
    ['datasets.import', { source: { type: 'path', path: '' }, kind: 'text' }, /source\.path/],
    ['runs.series', 'not an object', /runs\.series/],
  ];
  for (const [op, payload, message] of cases) {
    const r = await handleCall(api, senderEvent(APP) as never, op, payload, quiet);
    assert.equal(r.ok, false, op);
    const error = (r as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'bad-request');
    assert.match(error.message, message);
  }
  assert.equal(api.calls.length, 0);
});

test('a valid call reaches the API and its result comes back in the envelope', async () => {
  const api = fakeApi((op, payload) => ({ op, echoed: payload, loss: NaN }));
  const r = await handleCall(api, senderEvent('app://lshlab/index.html#/runs') as never, 'runs.show', { run: 'baseline' }, quiet);
  assert.deepEqual(api.calls, [{ op: 'runs.show', payload: { run: 'baseline' } }]);
  assert.equal(r.ok, true);
  assert.deepEqual((r as { result: unknown }).result, { op: 'runs.show', echoed: { run: 'baseline' }, loss: NaN });
  // A payload-less op takes undefined as {}.
  assert.equal((await handleCall(api, senderEvent(APP) as never, 'datasets.list', undefined, quiet)).ok, true);
});

test('API errors keep their code; other errors are internal, with the message and without a stack', async () => {
  const notFound = fakeApi(() => {
    throw new ApiError('not-found', "no run 'x'");
  });
  assert.deepEqual(await handleCall(notFound, senderEvent(APP) as never, 'runs.show', { run: 'x' }, quiet), { ok: false, error: { code: 'not-found', message: "no run 'x'" } });
  const logged: string[] = [];
  const broken = fakeApi(() => {
    throw new TypeError('cannot read properties of undefined');
  });
  const r = await handleCall(broken, senderEvent(APP) as never, 'runs.show', { run: 'x' }, (m) => logged.push(m));
  assert.deepEqual(r, { ok: false, error: { code: 'internal', message: 'cannot read properties of undefined' } });
  assert.doesNotMatch(JSON.stringify(r), /at .*\.js:\d+/);
  assert.match(logged.join('\n'), /TypeError: cannot read properties of undefined\n\s+at /);
});

test('setupIpc registers the call channel and removes it again', async () => {
  const ipcMain = new FakeIpcMain();
  const api = fakeApi();
  const remove = setupIpc(ipcMain as never, api, quiet);
  assert.deepEqual([...ipcMain.handlers.keys()], [IPC_CHANNELS.call]);
  assert.equal(((await ipcMain.invoke(IPC_CHANNELS.call, senderEvent(APP), 'engine.info', {})) as { ok: boolean }).ok, true);
  remove();
  assert.equal(ipcMain.handlers.size, 0);
});

test('the open-file dialog: modal to the asking window, a path or null, our origin only', async () => {
  const ipcMain = new FakeIpcMain();
  const dialog = new FakeDialog();
  const win = new FakeBrowserWindow({});
  setupDialogs(ipcMain as never, { dialog: dialog as never, windowOf: FakeBrowserWindow.fromWebContents as never, log: quiet });
  const ask = (url: string | null, options?: unknown) => ipcMain.invoke(IPC_CHANNELS.openFileDialog, senderEvent(url, win.webContents), options);

  assert.deepEqual(await ask(APP, { kind: 'classification' }), { ok: true, result: '/data/sst2/train.tsv' });
  assert.equal(dialog.calls[0]!.window, win);
  assert.deepEqual(dialog.calls[0]!.options['properties'], ['openFile']);
  assert.deepEqual(dialog.calls[0]!.options['filters'], datasetFileFilters('classification'));
  dialog.answer = { canceled: true, filePaths: [] };
  assert.deepEqual(await ask(APP), { ok: true, result: null });

  assert.equal(((await ask('https://evil.example/')) as { error: { code: string } }).error.code, 'forbidden');
  const bad = (await ask(APP, { kind: 'images', multi: true })) as { ok: boolean; error: { code: string; message: string } };
  assert.equal(bad.error.code, 'bad-request');
  assert.match(bad.error.message, /options\.multi: unknown field/);
  assert.match(((await ask(APP, { kind: 'images' })) as { error: { message: string } }).error.message, /options\.kind/);
  assert.equal(dialog.calls.length, 2);
});
