// study.test.ts: `lshlab study` end to end on tiny synthetic studies: killing `study run` with
// SIGKILL mid-way and running it again finishes the study with exactly the intended set of runs
// (no duplicates, nothing missing); bad definitions are one usage error naming the field; a study
// built from flags is listed, shown, reported and removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { openStore, storePath } from '../../src-main/store/index.js';
import { lshlab } from './run-cli.js';

const BIN = path.resolve(__dirname, '../../../bin/lshlab.js');
const MODEL = { hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxSeqLen: 16 };

function studyFile(dir: string, body: Record<string, unknown>): string {
  const file = path.join(dir, `${String(body['name'])}.json`);
  fs.writeFileSync(file, JSON.stringify(body, null, 2));
  return file;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('study run killed with SIGKILL mid-way, then run again: exactly the intended runs, no duplicates', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-study-kill-'));
  const data = path.join(root, 'data');
  try {
    const file = studyFile(root, {
      name: 'killed',
      model: MODEL,
      seeds: 2,
      defaults: { steps: 2500, batchSize: 4, evalBatches: 1, warmupSteps: 1 },
      variants: ['exact', 'bert-lsh'],
      stages: [
        { name: 'pre', task: 'mlm', dataset: 'synthetic:random' },
        { name: 'more', task: 'mlm', dataset: 'synthetic:random' },
      ],
    });
    const child = spawn(process.execPath, [BIN, 'study', 'run', file, '--data-dir', data, '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    // Kill it once some runs finished and the next one has started (while it trains).
    const deadline = Date.now() + 40_000;
    while (!/run 3\/8: .* started/.test(stderr)) {
      if (Date.now() > deadline) throw new Error(`study run did not get to its third run: ${stderr}`);
      await sleep(50);
    }
    await sleep(300);
    child.kill('SIGKILL');
    await exited;
    {
      const store = openStore(storePath(data));
      const finished = store.runs.count({ tag: 'study:killed', status: 'finished' });
      store.close();
      assert.ok(finished >= 2 && finished < 8, `killed mid-way (${finished} finished)`);
    }

    const again = await lshlab(data, ['study', 'run', 'killed']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /study killed: 8 runs \(2 stage\(s\) x 2 variant\(s\) x 2 seed\(s\)\), [2-7] done already/);
    assert.match(again.stderr, /all 8 runs done/);

    const store = openStore(storePath(data));
    try {
      const study = store.studies.get('killed');
      assert.ok(study);
      const cells = store.studies.cells(study.id);
      const want = ['0', '1'].flatMap((st) => ['exact', 'bert-lsh'].flatMap((v) => ['1', '2'].map((s) => `${st}/${v}/${s}`))).sort();
      assert.deepEqual(cells.map((c) => `${c.stage}/${c.variant}/${c.seed}`).sort(), want);
      assert.ok(cells.every((c) => c.runStatus === 'finished'), JSON.stringify(cells));
      assert.ok(cells.every((c) => c.attempts === 1), 'an interrupted run does not count as an attempt');
      assert.equal(new Set(cells.map((c) => c.runId)).size, 8);
      const finished = store.runs.list({ tag: 'study:killed', status: 'finished' });
      assert.equal(finished.length, 8, 'one finished run per cell, no duplicates');
      assert.equal(new Set(finished.map((r) => r.name)).size, 8);
      // What else is there: at most the one run the kill interrupted, marked crashed.
      const others = store.runs.list({ tag: 'study:killed' }).filter((r) => r.status !== 'finished');
      assert.ok(others.length <= 1 && others.every((r) => r.status === 'crashed'), JSON.stringify(others.map((r) => [r.name, r.status])));
    } finally {
      store.close();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('study run: a bad definition is one usage error naming the field; a changed definition is refused', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-study-bad-'));
  const data = path.join(root, 'data');
  try {
    const body = {
      name: 'bad',
      model: MODEL,
      seeds: 1,
      variants: ['exact', 'lsh-attention'],
      stages: [{ task: 'mlm', dataset: 'synthetic:random', steps: 2, batchSize: 2 }],
    };
    const unknown = await lshlab(data, ['study', 'run', studyFile(root, body)]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /study .*bad\.json: variants\[1\]\.attention: unknown attention variant 'lsh-attention'/);
    const badParam = await lshlab(data, ['study', 'run', studyFile(root, { ...body, variants: [{ attention: 'yoso', params: { tau: 99 } }] })]);
    assert.equal(badParam.code, 2);
    assert.match(badParam.stderr, /variants\[0\]\.params\.tau: must be in 1\.\.30, got 99/);
    const missing = await lshlab(data, ['study', 'run', studyFile(root, { ...body, variants: ['exact'], stages: [{ task: 'classification', dataset: 'sst2', steps: 2 }] })]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /stages\[0\]\.dataset: no dataset 'sst2' in the lab/);
    const store = openStore(storePath(data));
    assert.equal(store.runs.count(), 0, 'nothing ran');
    assert.deepEqual(store.studies.list(), []);
    store.close();

    const ok = await lshlab(data, ['study', 'run', studyFile(root, { ...body, variants: ['exact'] })]);
    assert.equal(ok.code, 0, ok.stderr);
    const changed = await lshlab(data, ['study', 'run', studyFile(root, { ...body, variants: ['exact'], stages: [{ task: 'mlm', dataset: 'synthetic:random', steps: 3, batchSize: 2 }] })]);
    assert.equal(changed.code, 2);
    assert.match(changed.stderr, /study 'bad' is already in the lab with another definition \(stages\[0\]\.steps: 3 here, 2 stored\)/);
    const unknownName = await lshlab(data, ['study', 'report', 'nope']);
    assert.equal(unknownName.code, 2);
    assert.match(unknownName.stderr, /no study 'nope' in the lab \(there is bad\)/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a study from flags: run with --parallel 2, list, show, report in every format, rm --runs', async () => {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-study-flags-'));
  try {
    const model = Object.entries(MODEL).map(([k, v]) => `${k}=${v}`).join(',');
    const r = await lshlab(data, [
      'study', 'run', '--name', 'flags', '--variant', 'exact', '--variant', 'masked=bert-lsh:fill=masked', '--seeds', '2',
      '--stage', 'mlm:synthetic:random:steps=4,batchSize=2,evalBatches=1', '--model', model, '--parallel', '2', '--format', 'markdown',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /stage 1\/1, run 4\/4: masked seed 2 (started|finished)/);
    assert.match(r.stdout, /\| Metric \| exact \(n=2\) \| masked \(n=2\) \|/);
    assert.match(r.stdout, /\| Training loss \| \S+ ± \S+ \[\S+, \S+\] \|/);

    const list = await lshlab(data, ['study', 'list']);
    assert.match(list.stdout, /flags\s+mlm:synthetic:random\s+exact,masked\s+2\s+4\/4\s+0/);
    const show = await lshlab(data, ['study', 'show', 'flags', '--json']);
    const shown = JSON.parse(show.stdout) as { definition: { variants: unknown[] }; cells: Array<{ state: string }> };
    assert.equal(shown.definition.variants.length, 2);
    assert.deepEqual(shown.cells.map((c) => c.state), ['done', 'done', 'done', 'done']);
    for (const [format, re] of [
      ['text', /Training loss\s+\S+ ± \S+ \[/],
      ['latex', /\\begin\{tabular\}\{lrr\}/],
      ['csv', /^stage,stage_name,task,dataset,metric/],
      ['json', /"study": "flags"/],
    ] as const) {
      const rep = await lshlab(data, ['study', 'report', 'flags', '--format', format]);
      assert.equal(rep.code, 0, rep.stderr);
      assert.match(rep.stdout, re, format);
    }
    const rm = await lshlab(data, ['study', 'rm', 'flags', '--runs']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /removed study flags and 4 run\(s\)/);
    const store = openStore(storePath(data));
    assert.equal(store.runs.count(), 0);
    assert.equal(store.studies.get('flags'), undefined);
    store.close();
  } finally {
    fs.rmSync(data, { recursive: true, force: true });
  }
});
