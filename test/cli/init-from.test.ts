/**
 * init-from.test.ts: `lshlab train --init-from` and `lshlab tokenizer import` through main() on a
 * temporary lab, with tiny synthetic masked-LM runs (seconds): the dimensions come from the source
 * run, the MLM head is ignored with a note, `runs show` and `runs compare` show the lineage,
 * resuming a fine-tuned run keeps it, a swapped attention variant is recorded, a Hugging Face
 * style folder is recognised, a shape mismatch fails naming the tensor and both shapes, and
 * conflicting or unknown sources are usage errors. Then a vocabulary folder imports as a lab
 * tokenizer that `datasets import --tokenizer` uses.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, storePath } from '../../src-main/store/index.js';
import { lshlab } from './run-cli.js';

const synthetic = ['--task', 'mlm', '--dataset', 'synthetic:random', '--batch', '4', '--max-seq-len', '16'];
let dir: string;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-initfrom-'));
  const r = await lshlab(dir, ['train', ...synthetic, '--hidden', '16', '--layers', '1', '--heads', '2', '--intermediate', '32', '--steps', '6', '--name', 'pre']);
  assert.equal(r.code, 0, r.stderr);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('train --init-from RUN: dimensions from the source, MLM head ignored, lineage in runs show and compare, resume keeps it', async () => {
  const ft = await lshlab(dir, ['train', ...synthetic, '--init-from', 'pre', '--steps', '4', '--name', 'ft', '--json']);
  assert.equal(ft.code, 0, ft.stderr);
  const row = (JSON.parse(ft.stdout) as { run: { status: string; modelConfig: Record<string, number>; trainConfig: Record<string, unknown> } }).run;
  assert.equal(row.status, 'finished');
  assert.equal(row.modelConfig['hiddenSize'], 16);
  assert.equal(row.modelConfig['intermediateSize'], 32);
  assert.match(ft.stderr, /init-from: ignored the source's masked-LM head: cls\.predictions/);
  assert.match(ft.stderr, /init-from: task head initialised from the seed: cls\.predictions/);
  const lineage = row.trainConfig['initFrom'] as Record<string, unknown>;
  assert.equal(lineage['sourceRunName'], 'pre');
  assert.equal(lineage['sourceStep'], 6);
  assert.equal(lineage['kind'], 'lshlab-run');

  const show = await lshlab(dir, ['runs', 'show', 'ft']);
  assert.match(show.stdout, /^weights from {2}run 1 \(pre\) step 6: .*step-00000006$/m);
  const cmp = await lshlab(dir, ['runs', 'compare', 'pre', 'ft']);
  assert.match(cmp.stdout, /^Weights from\s+-\s+run 1 \(pre\) step 6$/m);
  const csv = await lshlab(dir, ['runs', 'compare', 'pre', 'ft', '--format', 'csv']);
  assert.match(csv.stdout, /^Weights from,-,run 1 \(pre\) step 6\r$/m);

  const resumed = await lshlab(dir, ['train', '--from-checkpoint', 'ft', '--steps', '7', '--name', 'ft-more']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming at step 4/);
  assert.doesNotMatch(resumed.stderr, /init-from:/);
  assert.match((await lshlab(dir, ['runs', 'show', 'ft-more'])).stdout, /^weights from {2}run 1 \(pre\) step 6/m);
});

test('train --init-from: a swapped variant is recorded; a Hugging Face style folder is recognised', async () => {
  const swap = await lshlab(dir, ['train', ...synthetic, '--init-from', 'pre', '--attention', 'yoso', '--conv-window', '3', '--steps', '2', '--name', 'swap']);
  assert.equal(swap.code, 0, swap.stderr);
  assert.match(swap.stderr, /attention-variant parameters not in the source .*initialised from the seed: bert\.encoder\.layer\.0\.attention\.self\.conv\.weight/);
  assert.match((await lshlab(dir, ['runs', 'show', 'swap'])).stdout, /^weights from {2}run 1 \(pre\) step 6, exact attention \(this run: yoso\)/m);

  // A folder as transformers writes one: no lshlab_* keys in config.json.
  const store = openStore(storePath(dir));
  const ckpt = store.checkpoints.latest(store.runs.resolve('pre')!.id)!.path;
  store.close();
  const hf = path.join(dir, 'hf-bert');
  fs.mkdirSync(hf);
  const cfg = JSON.parse(fs.readFileSync(path.join(ckpt, 'config.json'), 'utf8')) as Record<string, unknown>;
  for (const k of Object.keys(cfg)) if (k.startsWith('lshlab_')) delete cfg[k];
  fs.writeFileSync(path.join(hf, 'config.json'), JSON.stringify(cfg));
  fs.copyFileSync(path.join(ckpt, 'model.safetensors'), path.join(hf, 'model.safetensors'));
  const r = await lshlab(dir, ['train', ...synthetic, '--init-from', hf, '--steps', '2', '--name', 'from-hf']);
  assert.equal(r.code, 0, r.stderr);
  assert.match((await lshlab(dir, ['runs', 'show', 'from-hf'])).stdout, new RegExp(`^weights from {2}Hugging Face folder ${hf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
});

test('train --init-from: a shape mismatch fails before training naming the tensor; bad sources are usage errors', async () => {
  const bad = await lshlab(dir, ['train', ...synthetic, '--init-from', 'pre', '--intermediate', '48', '--steps', '2', '--name', 'mismatch']);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /failed: .*tensor 'bert\.encoder\.layer\.0\.intermediate\.dense\.weight' has shape \[32, 16\] in the source but \[48, 16\] in the target model.* after step 0/);
  const both = await lshlab(dir, ['train', '--init-from', 'pre', '--from-checkpoint', 'pre', '--steps', '9']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--init-from and --from-checkpoint exclude each other/);
  const none = await lshlab(dir, ['train', ...synthetic, '--init-from', 'no-such-run', '--steps', '2']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--init-from no-such-run: no run or directory of that name/);
  const missing = await lshlab(dir, ['train', ...synthetic, '--init-from', path.join(dir, 'nowhere'), '--steps', '2']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nowhere: no such directory/);
});

test('tokenizer import: a vocabulary folder becomes a lab tokenizer that datasets import uses', async () => {
  const folder = path.join(dir, 'bert-vocab');
  fs.mkdirSync(folder);
  const words = ['the', 'cat', 'sat', 'on', 'mat', 'a', 'dog', '##s', '.'];
  fs.writeFileSync(path.join(folder, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words].join('\n') + '\n');
  const r = await lshlab(dir, ['tokenizer', 'import', folder, '--name', 'tiny-vocab']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /tokenizer tiny-vocab: vocabulary 14, imported from .*vocab\.txt/);
  assert.match((await lshlab(dir, ['tokenizer', 'list'])).stdout, /tiny-vocab\s+14\s+imported from/);
  const again = await lshlab(dir, ['tokenizer', 'import', folder, '--name', 'tiny-vocab']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /tokenizer "tiny-vocab" already exists/);

  const text = path.join(dir, 'cats.txt');
  fs.writeFileSync(text, Array.from({ length: 40 }, (_, i) => (i % 2 ? 'the cat sat on a mat.' : 'the dogs sat.')).join('\n') + '\n');
  const imp = await lshlab(dir, ['datasets', 'import', text, '--kind', 'text', '--name', 'cats', '--tokenizer', 'tiny-vocab']);
  assert.equal(imp.code, 0, imp.stderr);
  const store = openStore(storePath(dir));
  try {
    assert.equal(store.datasets.get('cats')!.tokenizer, 'tiny-vocab');
  } finally {
    store.close();
  }

  // A cased model's folder: its vocab.txt would lowercase, so only its tokenizer.json imports.
  const cased = path.join(dir, 'cased');
  fs.mkdirSync(cased);
  fs.copyFileSync(path.join(folder, 'vocab.txt'), path.join(cased, 'vocab.txt'));
  fs.writeFileSync(path.join(cased, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false }));
  const refused = await lshlab(dir, ['tokenizer', 'import', cased, '--name', 'cased']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /tokenizer_config\.json: do_lower_case is false/);
});
