/**
 * init-from.test.ts: the Node side of fine-tuning from pretrained weights (training/init-from.ts)
 * against the engine's Trainer.initFrom: the source description and its errors (naming the
 * directory or file), the model dimensions taken from the source unless given, the lineage's
 * "ignored" list agreeing with what the engine reports for several source/target pairs, and the
 * spec's validation of initFrom.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadEngine } from '../../src-main/engine/index.js';
import type { ModelConfig, Task } from '../../src-main/engine/types.js';
import { ignoredSourceTensors, modelFromSource, readInitSource, variantParameterSuffixes } from '../../src-main/training/init-from.js';
import { DEFAULT_MODEL, defaultSpec, SpecError, validateSpec } from '../../src-main/training/spec.js';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-initfrom-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const engine = loadEngine();
function config(task: Task, over: Partial<ModelConfig> = {}): Partial<ModelConfig> {
  return { vocabSize: 50, hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 32, maxPositionEmbeddings: 24, task, numLabels: 3, ...over };
}
async function saved(name: string, cfg: Partial<ModelConfig>): Promise<string> {
  const d = path.join(dir, name);
  await new engine.Trainer(cfg, { seed: 3 }).save(d);
  return d;
}

test('readInitSource: config, tensor shapes, step and kind; errors name the directory or file', async () => {
  const d = await saved('mlm', config('mlm'));
  const src = readInitSource(d);
  assert.equal(src.kind, 'lshlab-run');
  assert.equal(src.step, 0);
  assert.deepEqual(src.tensors.get('bert.embeddings.word_embeddings.weight'), [50, 16]);
  assert.equal(src.config['hidden_size'], 16);

  assert.throws(() => readInitSource(path.join(dir, 'nope')), /nope: no such directory/);
  const binOnly = path.join(dir, 'bin-only');
  fs.mkdirSync(binOnly);
  fs.copyFileSync(path.join(d, 'config.json'), path.join(binOnly, 'config.json'));
  fs.writeFileSync(path.join(binOnly, 'pytorch_model.bin'), 'x');
  assert.throws(() => readInitSource(binOnly), /bin-only: no model\.safetensors.*pytorch_model\.bin only/);
  const roberta = path.join(dir, 'roberta');
  fs.mkdirSync(roberta);
  fs.writeFileSync(path.join(roberta, 'config.json'), JSON.stringify({ model_type: 'roberta' }));
  fs.copyFileSync(path.join(d, 'model.safetensors'), path.join(roberta, 'model.safetensors'));
  assert.throws(() => readInitSource(roberta), /roberta[/\\]config\.json: model_type is "roberta"/);
  const garbage = path.join(dir, 'garbage');
  fs.mkdirSync(garbage);
  fs.copyFileSync(path.join(d, 'config.json'), path.join(garbage, 'config.json'));
  fs.writeFileSync(path.join(garbage, 'model.safetensors'), Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 1]));
  assert.throws(() => readInitSource(garbage), /garbage[/\\]model\.safetensors: not a safetensors file/);
});

test('modelFromSource: dimensions from config.json unless given; sequence capped at the positions', async () => {
  const src = readInitSource(await saved('dims', config('mlm')));
  const m = modelFromSource(src, { ...DEFAULT_MODEL });
  assert.deepEqual(
    [m.hiddenSize, m.numHiddenLayers, m.numAttentionHeads, m.intermediateSize, m.maxPositionEmbeddings, m.maxSeqLen, m.layerNormEps],
    [16, 2, 2, 32, 24, 24, 1e-12],
  );
  const given = modelFromSource(src, { ...DEFAULT_MODEL, hiddenSize: 64 }, new Set(['hiddenSize']));
  assert.equal(given.hiddenSize, 64);
  assert.equal(given.numHiddenLayers, 2);
});

test("the lineage's ignored tensors are what the engine ignores", async () => {
  const pairs: Array<[string, Partial<ModelConfig>, Task, Partial<ModelConfig>]> = [
    ['mlm->cls', config('mlm'), 'classification', {}],
    ['cls->mlm', config('classification'), 'mlm', {}],
    ['cls->qa', config('classification'), 'qa', {}],
    ['yosoc->cls', config('qa', { attention: 'yoso', attentionParams: { conv_window: 3 } }), 'classification', {}],
    ['yosoc->yosoc', config('qa', { attention: 'yoso', attentionParams: { conv_window: 3 } }), 'mlm', { attention: 'yoso', attentionParams: { conv_window: 3 } }],
  ];
  for (const [name, srcCfg, task, over] of pairs) {
    const d = await saved(name, srcCfg);
    const target = new engine.Trainer(config(task, over), { seed: 9 });
    const report = await target.initFrom(d);
    const ts = ignoredSourceTensors(readInitSource(d), task, variantParameterSuffixes(over.attention ?? 'exact', over.attentionParams ?? {}));
    assert.deepEqual([...ts].sort(), [...report.ignored].sort(), name);
    assert.ok(report.notes.length > 0 && report.loaded.length > 0, name);
    assert.equal(target.stepCount, 0);
  }
});

test('initFrom: a shape mismatch names the tensor and both shapes; the spec wants an absolute directory', async () => {
  const d = await saved('shape', config('mlm'));
  const t = new engine.Trainer(config('classification', { intermediateSize: 48 }), {});
  await assert.rejects(t.initFrom(d), /tensor 'bert\.encoder\.layer\.0\.intermediate\.dense\.weight' has shape \[32, 16\] in the source but \[48, 16\] in the target model/);
  assert.throws(() => validateSpec(defaultSpec({ task: 'mlm', dataset: 'x', steps: 1, initFrom: 'relative/dir' })), SpecError);
  assert.throws(() => validateSpec(defaultSpec({ task: 'mlm', dataset: 'x', steps: 1, model: { ...DEFAULT_MODEL, maxPositionEmbeddings: 64 } })), /maxPositionEmbeddings/);
  validateSpec(defaultSpec({ task: 'mlm', dataset: 'x', steps: 1, initFrom: d }));
});
