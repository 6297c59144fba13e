/**
 * serve-process.test.ts: `lshlab serve --json --port 0 --no-open` as a real child process: it
 * prints its one JSON line, answers the API with the token, trains a tiny run started through
 * runs.start while the WebSocket delivers its step events and its end, and exits 0 on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import WebSocket from 'ws';
import type { LabEvent, ServerSocketMessage } from '../../src-main/api/contract.js';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'lshlab.js');

test('lshlab serve: one JSON line, the API, a training seen live over the WebSocket, clean exit', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-serve-'));
  const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--no-open', '--threads', '1', '--data-dir', dir], {
    env: { ...process.env, LSHLAB_DATA_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const info = JSON.parse(line) as { url: string; host: string; port: number; token: string };
    assert.deepEqual(Object.keys(info).sort(), ['host', 'port', 'token', 'url']);
    assert.equal(info.host, '127.0.0.1');
    assert.match(info.token, /^[0-9a-f]{64}$/);
    assert.equal(info.url, `http://127.0.0.1:${info.port}/?token=${info.token}`);

    const post = async (op: string, payload: unknown): Promise<{ ok: boolean; result?: any; error?: { message: string } }> => {
      const r = await fetch(`http://127.0.0.1:${info.port}/api/${op}`, {
        method: 'POST', body: JSON.stringify(payload), headers: { 'Content-Type': 'application/json', 'X-Lshlab-Token': info.token },
      });
      return (await r.json()) as { ok: boolean };
    };
    assert.equal((await post('runs.list', {})).result.total, 0);

    const ws = new WebSocket(`ws://127.0.0.1:${info.port}/api/events?token=${info.token}`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const events: LabEvent[] = [];
    let onEvent: () => void = () => undefined;
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as ServerSocketMessage;
      if (m.type === 'event') events.push(m.event);
      onEvent();
    });
    const waitFor = (pred: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        onEvent = () => pred() && resolve();
        if (pred()) resolve();
      });
    ws.send(JSON.stringify({ type: 'subscribe', topic: { kind: 'runs' } }));

    const spec = {
      task: 'mlm', dataset: 'synthetic:random', steps: 40, batchSize: 4, warmupSteps: 2, name: 'ws-run',
      model: { hiddenSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 64, maxSeqLen: 16 },
      attention: 'bert-lsh', attentionParams: { bands: 2, table_size: 16 },
    };
    const bad = await post('runs.start', { spec: { ...spec, attentionParams: { bands: 99 } } });
    assert.match(bad.error!.message, /spec\.attentionParams\.bands: must be in 1\.\.64/);
    const started = await post('runs.start', { spec });
    assert.ok(started.ok, JSON.stringify(started));
    const runId = started.result.run.id as number;
    ws.send(JSON.stringify({ type: 'subscribe', topic: { kind: 'run', runId } }));

    await waitFor(() => events.some((e) => e.type === 'run.end' && e.runId === runId));
    const steps = events.filter((e): e is Extract<LabEvent, { type: 'run.step' }> => e.type === 'run.step' && e.runId === runId);
    const end = events.find((e) => e.type === 'run.end') as Extract<LabEvent, { type: 'run.end' }>;
    assert.equal(end.status, 'finished', `${end.error ?? ''}\n${stderr}`);
    assert.equal(end.lastStep, 40);
    assert.ok(events.some((e) => e.type === 'run.created' && e.run.id === runId));
    assert.ok(steps.length > 0, 'step events arrived');
    assert.ok(steps.every((s, i) => i === 0 || s.step > steps[i - 1]!.step), 'steps in order');
    assert.ok(steps.length < 40 || steps.every((s) => s.steps >= 1), 'throttled steps are counted');
    assert.ok(steps.some((s) => s.density !== null), 'bert-lsh steps carry their density');
    ws.close();

    const series = await post('runs.series', { runs: [String(runId)], keys: ['train/loss'], buckets: 8 });
    assert.ok(series.result.series[0].buckets.length > 0);
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, stderr);
  }
});
