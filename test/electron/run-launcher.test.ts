/**
 * run-launcher.test.ts: the utilityProcess WorkerLauncher. With a recording fake utilityProcess:
 * fork's arguments, send -> postMessage (dropped after exit), message and exit mapping, kill with
 * and without a signal, pid. The parentPort bridge on its own. Then end to end: the run host
 * (training/host.ts) starts a real tiny training run through utilityProcessLauncher, with a
 * utilityProcess stand-in that forks a Node child wearing a parentPort (utility-shim.ts): the run
 * goes through utility-worker.js -> the bridge -> the unchanged training/worker.js and finishes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { UTILITY_WORKER_PATH, utilityProcessLauncher } from '../../src-main/electron/run-launcher.js';
import { bridgeParentPort } from '../../src-main/electron/parent-port-bridge.js';
import { RunHost } from '../../src-main/training/host.js';
import type { WorkerMessage } from '../../src-main/training/protocol.js';
import { FakeUtilityProcess } from './fakes.js';
import { tempLab, tinySpec } from '../training/helpers.js';

test('fork runs utility-worker.js as a named service with inherited stdio and the environment', () => {
  const up = new FakeUtilityProcess();
  utilityProcessLauncher(up as never, { env: { LSHLAB_NATIVE_DIR: '/opt/native' } })();
  const [f] = up.forks;
  assert.equal(f!.modulePath, UTILITY_WORKER_PATH);
  assert.equal(path.basename(UTILITY_WORKER_PATH), 'utility-worker.js');
  assert.equal(f!.options!['serviceName'], 'lshlab training run');
  assert.equal(f!.options!['stdio'], 'inherit');
  assert.equal(f!.options!['env']['LSHLAB_NATIVE_DIR'], '/opt/native');
  assert.equal(f!.options!['env']['PATH'], process.env['PATH']);
});

test('messages, exit, pid and kill map onto the WorkerHandle', () => {
  const up = new FakeUtilityProcess();
  const signals: Array<[number, string]> = [];
  const handle = utilityProcessLauncher(up as never, { signal: (pid, s) => signals.push([pid, s]) })();
  const child = up.forks[0]!.child;
  assert.equal(handle.pid, undefined); // not spawned yet, as Electron defines it
  child.pid = 4242;
  assert.equal(handle.pid, 4242);

  handle.send({ type: 'cancel' });
  assert.deepEqual(child.posted, [{ type: 'cancel' }]);

  const got: WorkerMessage[] = [];
  handle.onMessage((m) => got.push(m));
  child.emit('message', { type: 'status', text: 'loading' });
  assert.deepEqual(got, [{ type: 'status', text: 'loading' }]);

  handle.kill();
  handle.kill('SIGTERM');
  assert.equal(child.killed, 2);
  handle.kill('SIGKILL');
  assert.deepEqual(signals, [[4242, 'SIGKILL']]);

  const exits: Array<[number | null, string | null]> = [];
  handle.onExit((code, signal) => exits.push([code, signal]));
  child.emit('exit', 1);
  assert.deepEqual(exits, [[1, null]]);
  handle.send({ type: 'cancel' });
  handle.kill('SIGKILL');
  assert.equal(child.posted.length, 1, 'nothing is sent to a process that has exited');
  assert.equal(signals.length, 1, 'nothing is signalled after exit (the pid may be reused)');
});

test('the parentPort bridge gives a utility process process.send and process message events', async () => {
  const proc = new EventEmitter() as EventEmitter & { send?: (...a: any[]) => boolean; connected?: boolean };
  const port = Object.assign(new EventEmitter(), { posted: [] as unknown[], postMessage(m: unknown) { this.posted.push(m); } });
  bridgeParentPort(proc, port as never);
  assert.equal(proc.connected, true);
  const received: unknown[] = [];
  proc.on('message', (m) => received.push(m));
  port.emit('message', { data: { type: 'start' }, ports: [] });
  assert.deepEqual(received, [{ type: 'start' }]);
  // The worker's call shape: send(m, undefined, {}, callback); the callback runs after posting.
  const done = new Promise<unknown>((resolve) => proc.send!({ type: 'done', step: 1, seconds: 0 }, undefined, {}, resolve));
  assert.equal(await done, null);
  proc.send!({ type: 'status', text: 'x' });
  assert.deepEqual(port.posted, [{ type: 'done', step: 1, seconds: 0 }, { type: 'status', text: 'x' }]);
});

/** A utilityProcess module whose children are Node processes wearing a parentPort (utility-shim). */
function nodeBackedUtilityProcess() {
  return {
    fork(modulePath: string, _args?: string[], options?: { env?: NodeJS.ProcessEnv }) {
      const child = fork(path.join(__dirname, 'utility-shim.js'), [modulePath], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
        env: options?.env,
      });
      const up = new EventEmitter() as EventEmitter & { pid: number | undefined; postMessage(m: unknown): void; kill(): boolean };
      up.pid = child.pid;
      up.postMessage = (m) => void (child.connected && child.send({ toPort: m }));
      up.kill = () => child.kill('SIGTERM');
      child.on('message', (m: { fromPort?: unknown }) => {
        if (m && 'fromPort' in m) up.emit('message', m.fromPort);
      });
      child.on('exit', (code, signal) => up.emit('exit', code ?? (signal ? 128 : 0)));
      return up;
    },
  };
}

test('end to end: the run host trains a run through the utilityProcess launcher and the bridge', { timeout: 120_000 }, async () => {
  const lab = tempLab('lshlab-electron-run-');
  try {
    const host = new RunHost(lab.store, lab.dir, { launcher: utilityProcessLauncher(nodeBackedUtilityProcess() as never), threads: 1, flushMs: 50 });
    const steps: number[] = [];
    const h = host.start(tinySpec({ name: 'via-utility', steps: 6 }), { onStep: (m) => steps.push(m.step) });
    const row = await h.done;
    assert.equal(row.status, 'finished', row.error ?? '');
    assert.equal(row.lastStep, 6);
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
    assert.equal(lab.store.metrics.history(row.id, 'train/loss').length, 6);
  } finally {
    lab.cleanup();
  }
});
