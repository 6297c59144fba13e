import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadEngine, type Batch, type ModelConfig } from '../../src-main/engine/index.js';

const TINY: Partial<ModelConfig> = {
  vocabSize: 64,
  hiddenSize: 32,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 64,
  maxPositionEmbeddings: 32,
  hiddenDropoutProb: 0,
  attentionProbsDropoutProb: 0,
};

/** A fixed MLM batch: random ids in [5, V), every 4th position masked with id 4. */
function mlmBatch(B: number, T: number, V: number, seed = 1): Batch {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const inputIds = new Int32Array(B * T);
  const labels = new Int32Array(B * T).fill(-100);
  for (let i = 0; i < B * T; i++) {
    const id = 5 + Math.floor(rand() * (V - 5));
    if (i % 4 === 1) {
      labels[i] = id;
      inputIds[i] = 4;
    } else {
      inputIds[i] = id;
    }
  }
  return { batchSize: B, seqLen: T, inputIds, labels, attentionMask: new Int32Array(B * T).fill(1) };
}

test('a step returns finite stats and the loss falls over 20 steps', async () => {
  const { Trainer } = loadEngine();
  const tr = new Trainer(TINY, { lr: 3e-3, seed: 1, weightDecay: 0 });
  assert.ok(tr.numParameters > 0);
  assert.equal(tr.stepCount, 0);
  const batch = mlmBatch(4, 16, 64);
  const losses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const s = await tr.step(batch);
    assert.ok(Number.isFinite(s.loss), `loss ${s.loss} at step ${i}`);
    assert.ok(Number.isFinite(s.gradNorm));
    assert.equal(s.step, i + 1);
    assert.equal(s.predictions, 16); // every 4th of 64 positions
    assert.equal(s.tokens, 64);
    losses.push(s.loss);
  }
  assert.equal(tr.stepCount, 20);
  const first = losses[0] as number;
  const last = losses[19] as number;
  assert.ok(first > 3 && first < 5.5, `initial loss ${first} should be near ln(64) = 4.16`);
  assert.ok(last < first * 0.8, `loss did not fall enough: ${first} -> ${last}`);
});

test('a second call while a step runs is rejected', async () => {
  const { Trainer } = loadEngine();
  const tr = new Trainer(TINY, { seed: 2 });
  const batch = mlmBatch(4, 16, 64);
  const p = tr.step(batch);
  assert.equal(tr.busy, true);
  assert.throws(() => tr.step(batch), /another operation \(step\) is still running/);
  assert.throws(() => tr.evaluate(batch), /still running/);
  await p;
  assert.equal(tr.busy, false);
  await tr.step(batch); // fine once the first has settled
});

test('bad configs name the field', () => {
  const { Trainer } = loadEngine();
  assert.throws(() => new Trainer({ ...TINY, hiddenSize: 1.5 }), /modelConfig\.hiddenSize must be an integer/);
  assert.throws(() => new Trainer({ ...TINY, hiddenSzie: 32 } as never), /modelConfig: unknown field 'hiddenSzie'/);
  assert.throws(() => new Trainer({ ...TINY, task: 'ner' as never }), /modelConfig\.task/);
  assert.throws(() => new Trainer({ ...TINY, hiddenDropoutProb: 2 }), /modelConfig\.hiddenDropoutProb/);
  assert.throws(() => new Trainer(TINY, { lr: -1 }), /trainConfig\.lr/);
  assert.throws(() => new Trainer(TINY, { seed: -3 }), /trainConfig\.seed/);
  assert.throws(() => new Trainer(TINY, { learningRate: 1 } as never), /trainConfig: unknown field 'learningRate'/);
  // Cross-field rule checked by the engine, reported with the JS names.
  assert.throws(
    () => new Trainer({ ...TINY, hiddenSize: 30, numAttentionHeads: 4 }),
    (e: Error) => /modelConfig/.test(e.message) && /(hiddenSize|numAttentionHeads)/.test(e.message) && !/hidden_size/.test(e.message),
  );
});

test('bad batches name the field', async () => {
  const { Trainer } = loadEngine();
  const tr = new Trainer(TINY, { seed: 3 });
  const good = mlmBatch(2, 8, 64);
  const ids = good.inputIds.slice();
  ids[5] = 64;
  assert.throws(() => tr.step({ ...good, inputIds: ids }), /batch\.inputIds\[5\] = 64 is outside \[0, 64\)/);
  assert.throws(() => tr.step({ ...good, seqLen: 9 }), /batch\.inputIds has 16 elements, expected batchSize\*seqLen = 18/);
  assert.throws(() => tr.step({ ...good, labels: undefined }), /batch\.labels is required/);
  assert.throws(() => tr.step({ ...good, inputIds: Array.from(good.inputIds) as never }), /batch\.inputIds must be an Int32Array/);
  assert.throws(() => tr.step({ ...good, seqLen: 64 }), /batch\.seqLen/); // > maxPositionEmbeddings
  assert.equal(tr.busy, false);
  await tr.step(good);
});

test('the event loop keeps running while a step runs', async () => {
  const { Trainer } = loadEngine();
  const tr = new Trainer(
    { hiddenSize: 128, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 512, vocabSize: 30522 },
    { seed: 4 },
  );
  const batch = mlmBatch(8, 64, 30522);
  await tr.step(batch); // grow buffers first
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  let stepMs = 0;
  let steps = 0;
  while (performance.now() - t0 < 150) {
    const s = await tr.step(batch);
    stepMs += s.seconds * 1000;
    steps++;
  }
  clearInterval(timer);
  const elapsed = performance.now() - t0;
  // A blocked loop would tick at most about once per step.
  assert.ok(ticks >= Math.max(steps + 3, elapsed / 5 / 4), `only ${ticks} ticks in ${elapsed.toFixed(0)} ms over ${steps} steps (${stepMs.toFixed(0)} ms in steps)`);
});

test('evaluate returns loss, counts and (on request) logits', async () => {
  const { Trainer } = loadEngine();
  const tr = new Trainer(TINY, { seed: 5 });
  const batch = mlmBatch(2, 8, 64);
  const plain = await tr.evaluate(batch);
  assert.ok(Number.isFinite(plain.loss));
  assert.equal(plain.predictions, 4);
  assert.equal(plain.logits, undefined);
  const withLogits = await tr.evaluate(batch, { returnLogits: true });
  assert.ok(withLogits.logits instanceof Float32Array);
  assert.equal(withLogits.logits.length, 4 * 64); // (P, V)
  assert.ok(Math.abs(withLogits.loss - plain.loss) < 1e-6);
  assert.equal(tr.stepCount, 0); // evaluation does not step
});

test('save and load round-trip the weights and the step count', async () => {
  const { Trainer } = loadEngine();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-ckpt-'));
  try {
    const batch = mlmBatch(2, 8, 64);
    const a = new Trainer(TINY, { seed: 6 });
    await a.step(batch);
    await a.step(batch);
    await a.save(dir);
    assert.ok(fs.existsSync(path.join(dir, 'model.safetensors')));
    assert.ok(fs.existsSync(path.join(dir, 'config.json')));
    const b = new Trainer(TINY, { seed: 99 });
    await b.load(dir);
    assert.equal(b.stepCount, 2);
    const ea = await a.evaluate(batch);
    const eb = await b.evaluate(batch);
    assert.ok(Math.abs(ea.loss - eb.loss) < 1e-6, `${ea.loss} vs ${eb.loss}`);
    await assert.rejects(b.load(path.join(dir, 'missing')), Error);
    assert.equal(b.busy, false);
    assert.deepEqual(b.config, a.config);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('two Trainers and a benchmark can be in flight together (the engine serialises them)', async () => {
  const e = loadEngine();
  const a = new e.Trainer(TINY, { seed: 7 });
  const b = new e.Trainer(TINY, { seed: 7 });
  const batch = mlmBatch(4, 16, 64);
  const [sa, sb, g] = await Promise.all([a.step(batch), b.step(batch), e.benchGemm({ m: 32, n: 32, k: 32, iters: 3 })]);
  assert.ok(Number.isFinite(sa.loss));
  assert.equal(sa.loss, sb.loss); // same seed, same batch: same result
  assert.ok(g.gflops > 0);
});

test('a bert-lsh step and evaluate return attention counters per layer and per head', async () => {
  const { Trainer } = loadEngine();
  const layers = 3;
  const heads = 4;
  const tr = new Trainer({ ...TINY, numHiddenLayers: layers, numAttentionHeads: heads, attention: 'bert-lsh' }, { seed: 6 });
  const batch = mlmBatch(3, 16, 64);
  const mask = batch.attentionMask as Int32Array;
  for (let t = 10; t < 16; t++) mask[2 * 16 + t] = 0; // last sequence: 10 real tokens
  const unpaddedPerHead = 2 * 16 * 16 + 10 * 10;
  for (const result of [await tr.step(batch), await tr.evaluate(batch)]) {
    const a = result.attention;
    assert.equal(a.layers.length, layers);
    assert.equal(a.pairs, layers * heads * unpaddedPerHead);
    assert.ok(a.density > 0 && a.density <= 1, `density ${a.density}`);
    assert.ok(a.flops.scores > 0 && a.flops.hash > 0 && a.timeS.hash >= 0);
    let dots = 0;
    for (const l of a.layers) {
      assert.equal(l.headDensity.length, heads);
      assert.equal(l.headPairs.length, heads);
      for (let h = 0; h < heads; h++) {
        const d = l.headDensity[h] as number;
        assert.ok(d > 0 && d <= 1, `head density ${d}`);
        assert.equal(l.headPairs[h], unpaddedPerHead);
        assert.ok(Math.abs(d - (l.headDotProducts[h] as number) / unpaddedPerHead) < 1e-12);
      }
      assert.equal(l.headDotProducts.reduce((x, y) => x + y, 0), l.dotProducts);
      assert.equal(l.collisions, l.dotProducts); // fill=zero: no diagonal fallbacks
      dots += l.dotProducts;
    }
    assert.equal(dots, a.dotProducts);
  }
  const ev = await tr.evaluate(batch);
  assert.equal(ev.attention.flops.backward, 0); // forward only
});

test('exact attention reports density 1 over unpadded pairs', async () => {
  const { Trainer } = loadEngine();
  const tr = new Trainer(TINY, { seed: 7 });
  const batch = mlmBatch(2, 8, 64);
  (batch.attentionMask as Int32Array).fill(0, 13, 16); // second sequence: 5 real tokens
  const s = await tr.step(batch);
  assert.equal(s.attention.pairs, 2 * 2 * (64 + 25));
  assert.equal(s.attention.density, 1);
  assert.deepEqual(s.attention.layers.map((l) => l.headDensity), [[1, 1], [1, 1]]);
  assert.equal(s.attention.collisions, 0);
});

test('yoso-e with conv_window adds H x w conv weights per layer and trains', async () => {
  const { Trainer } = loadEngine();
  const plain = new Trainer({ ...TINY, attention: 'yoso-e' }, { seed: 8 });
  const conv = new Trainer({ ...TINY, attention: 'yoso-e', attentionParams: { conv_window: 3 } }, { seed: 8, lr: 3e-3, weightDecay: 0 });
  assert.equal(conv.numParameters - plain.numParameters, 2 * 2 * 3); // layers x heads x w
  const batch = mlmBatch(4, 16, 64);
  const first = (await conv.step(batch)).loss;
  let last = first;
  for (let i = 0; i < 15; i++) last = (await conv.step(batch)).loss;
  assert.ok(Number.isFinite(last) && last < first, `${first} -> ${last}`);
  assert.throws(() => new Trainer({ ...TINY, attention: 'yoso-e', attentionParams: { conv_window: 4 } }), /conv_window must be odd/);
});
