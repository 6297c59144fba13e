/**
 * foreign-runs.test.ts: the app's API (as the Electron main process or `lshlab serve` holds it)
 * and a run hosted by ANOTHER process, a `lshlab train` in a terminal: the API sees it appear on
 * the 'runs' topic, streams its steps on its 'run' topic (polled from the store), cancels it with
 * runs.cancel (recorded in the database, honoured by the terminal's host), and reports its end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLabApi } from '../../src-main/api/lab-api.js';
import type { LabEvent } from '../../src-main/api/contract.js';
import { openStore, storePath } from '../../src-main/store/index.js';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'lshlab.js');
const TINY = ['--task', 'mlm', '--dataset', 'synthetic:random', '--hidden', '16', '--layers', '1', '--heads', '2', '--intermediate', '32', '--max-seq-len', '16', '--batch', '4'];

function waitFor<T>(what: string, get: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      const v = get();
      if (v !== undefined) return resolve(v);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

test('a run hosted by another process: seen, streamed, cancelled and ended through the API', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-api-foreign-'));
  openStore(storePath(dir)).close();
  const api = createLabApi({ dataDir: dir, log: (t) => process.stderr.write(t + '\n') });
  const lifecycle: LabEvent[] = [];
  const offRuns = api.events.subscribe({ kind: 'runs' }, (e) => lifecycle.push(e));
  const child = spawn(process.execPath, [BIN, 'train', ...TINY, '--steps', '1000000', '--name', 'terminal', '--threads', '1', '--data-dir', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  try {
    const created = await waitFor('run.created', () => lifecycle.find((e) => e.type === 'run.created'));
    assert.equal(created.type, 'run.created');
    const runId = (created as Extract<LabEvent, { type: 'run.created' }>).run.id;

    const perRun: LabEvent[] = [];
    const offRun = api.events.subscribe({ kind: 'run', runId }, (e) => perRun.push(e));
    const steps = await waitFor('two step events', () => {
      const s = perRun.filter((e): e is Extract<LabEvent, { type: 'run.step' }> => e.type === 'run.step');
      return s.length >= 2 ? s : undefined;
    });
    assert.ok(steps[1]!.step > steps[0]!.step, 'steps advance');

    const asked = Date.now();
    const row = await api.call('runs.cancel', { run: String(runId) });
    assert.ok(row);
    const end = await waitFor('run.end', () => perRun.find((e) => e.type === 'run.end'));
    assert.equal((end as Extract<LabEvent, { type: 'run.end' }>).status, 'cancelled');
    assert.ok(Date.now() - asked < 10_000, 'the other host honoured the cancel promptly');
    assert.equal(await exited, 0, err);
    offRun();

    const shown = await api.call('runs.show', { run: String(runId) });
    assert.equal(shown.run.status, 'cancelled');
    assert.ok(shown.checkpoints.length >= 1, 'the cancelled run kept a checkpoint');
  } finally {
    offRuns();
    child.kill('SIGKILL');
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
