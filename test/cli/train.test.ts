/**
 * train.test.ts: `lshlab train` and `lshlab demo` through main() on temporary labs: a synthetic
 * run finishes and is listed; resuming from a run continues from its checkpoint; bad flags are usage errors naming the field;
 * the demo runs end to end (built-in data, Table 1, three variants, the comparison) and leaves
 * three finished runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { openStore, storePath } from '../../src-main/store/index.js';
import { lshlab, TINY_MLM } from './run-cli.js';

const tiny = TINY_MLM;

test('train: a synthetic run finishes, is listed, and resumes from its checkpoint', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-train-'));
  try {
    const r = await lshlab(dir, ['train', ...tiny, '--steps', '6', '--name', 'first', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { run: { id: number; status: string; lastStep: number }; evaluations: unknown[] };
    assert.equal(out.run.status, 'finished');
    assert.equal(out.run.lastStep, 6);
    assert.equal(out.evaluations.length, 1);
    assert.match(r.stderr, /first: step 6\/6 {2}loss \d/);

    // The resumed run's settings (task, dataset, model, batch) come from the run it resumes.
    const resumed = await lshlab(dir, ['train', '--steps', '9', '--from-checkpoint', 'first', '--name', 'second']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming at step 6/);
    assert.match(resumed.stdout, /run 2 \(second\) finished after step 9/);

    const list = await lshlab(dir, ['runs', 'list', '--json']);
    const runs = JSON.parse(list.stdout) as Array<{ run?: { status: string }; status?: string }>;
    assert.equal(runs.length, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('train: bad flags name the field; a missing dataset is named', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-train-'));
  try {
    const bad = await lshlab(dir, ['train', ...tiny.map((a) => (a === '16' ? '15' : a)), '--steps', '2']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /model.hiddenSize: 15 is not a multiple of numAttentionHeads 2/);
    const missing = await lshlab(dir, ['train', '--task', 'mlm', '--dataset', 'nope', '--steps', '2']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /dataset 'nope' is not in the lab/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('demo --quick: built-in data, Table 1, exact / bert-lsh / yoso trained and compared', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-demo-'));
  try {
    const r = await lshlab(dir, ['demo', '--quick', '--steps', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /exact\s+25\.6\s+/);
    assert.match(r.stdout, /bert-lsh\s+10\.2\s+/);
    for (const v of ['demo-exact \\(exact\\)', 'demo-bert-lsh \\(bert-lsh\\)', 'demo-yoso \\(yoso\\)']) assert.match(r.stdout, new RegExp(v));
    assert.match(r.stdout, /Training loss/);
    assert.match(r.stdout, /database: .*lab\.db/);
    const store = openStore(storePath(dir));
    try {
      const runs = store.runs.list({ tag: 'demo' });
      assert.deepEqual(runs.map((x) => x.status), ['finished', 'finished', 'finished']);
      assert.equal(store.benchmarks.list({ kind: 'attention/paper-table1' }).length, 1);
    } finally {
      store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C (SIGINT to the process group) cancels after the current step and keeps a checkpoint', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-sigint-'));
  try {
    const bin = path.join(__dirname, '..', '..', '..', 'bin', 'lshlab.js');
    const child = spawn(process.execPath, [bin, 'train', ...tiny, '--steps', '1000000', '--data-dir', dir, '--threads', '1'], {
      detached: true, // its own process group, as a terminal's foreground job
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8');
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: string) => {
        err += d;
        if (/step \d+\/1000000/.test(err)) resolve();
      });
    });
    process.kill(-child.pid!, 'SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 0, err);
    const store = openStore(storePath(dir));
    try {
      const [run] = store.runs.list();
      assert.equal(run!.status, 'cancelled');
      assert.equal(store.checkpoints.latest(run!.id)?.step, run!.lastStep);
    } finally {
      store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
