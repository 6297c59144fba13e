// study-def.test.ts: study definitions: normalization (defaults frozen, idempotent through the
// stored JSON), one error naming the field for each kind of mistake, the checks against the lab
// (missing dataset, wrong kind, tokenizer along a pipeline), the grid order and cell specs, the
// paper's study and a definition built from flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatasetRow } from '../../src-main/store/types.js';
import {
  cellSpec, checkStudyAgainstLab, checkStudyShape, firstDifference, parseStudyText, studyCells, studyJson,
} from '../../src-main/lab/study-def.js';
import { paperStudy } from '../../src-main/lab/study-paper.js';
import { definitionFromFlags } from '../../src-main/cli/study-lab.js';

const base = (): Record<string, any> => ({
  name: 'grid',
  seeds: 2,
  model: { hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxSeqLen: 16 },
  defaults: { steps: 10, batchSize: 4 },
  variants: ['exact', { key: 'lsh-masked', attention: 'bert-lsh', params: { fill: 'masked', bands: 3 } }],
  stages: [
    { name: 'pre', task: 'mlm', dataset: 'text-a' },
    { task: 'classification', dataset: 'cls-a', epochs: 1, lr: 5e-4 },
    { task: 'qa', dataset: 'qa-a', steps: 7, docStride: 4 },
  ],
});

test('normalization: defaults frozen, seeds listed, variant shorthand, stage names and init; studyJson round-trips', () => {
  const def = checkStudyShape(base());
  assert.deepEqual(def.seeds, ['1', '2']);
  assert.deepEqual(def.variants[0], { key: 'exact', attention: 'exact', params: {} });
  assert.deepEqual(def.stages.map((s) => [s.name, s.init]), [['pre', 'none'], ['classification', 'previous'], ['qa', 'previous']]);
  assert.equal(def.stages[0]?.budget.steps, 10);
  assert.equal(def.stages[1]?.budget.steps, undefined, "a stage's epochs replaces the defaults' steps");
  assert.equal(def.stages[1]?.budget.epochs, 1);
  assert.equal(def.stages[1]?.budget.lr, 5e-4);
  assert.equal(def.stages[0]?.budget.lr, 1e-3, 'the default learning rate is written into the definition');
  assert.equal(def.stages[2]?.budget.batchSize, 4);
  assert.equal(def.model.hiddenDropoutProb, 0.1);
  const again = checkStudyShape(JSON.parse(JSON.stringify(studyJson(def))));
  assert.deepEqual(again, def);
  assert.equal(firstDifference(studyJson(def), studyJson(again)), null);
  const other = base();
  other['stages'][0].steps = 11;
  assert.equal(firstDifference(studyJson(checkStudyShape(other)), studyJson(def)), 'stages[0].steps: 11 here, 10 stored');
});

test('each mistake is one error naming the field', () => {
  const cases: Array<[(d: Record<string, any>) => void, RegExp]> = [
    [(d) => (d['variants'][1] = 'nope'), /^variants\[1\]\.attention: unknown attention variant 'nope'/],
    [(d) => (d['variants'][1].params.fill = 'all'), /^variants\[1\]\.params\.fill: must be one of zero, masked, got 'all'/],
    [(d) => (d['variants'][1].params.tau = 3), /^variants\[1\]\.params\.tau: bert-lsh takes no parameter 'tau'/],
    [(d) => (d['variants'][1].params.bands = 99), /^variants\[1\]\.params\.bands: must be in 1\.\.64, got 99/],
    [(d) => (d['variants'][1].key = 'exact'), /^variants\[1\]\.key: 'exact' is used twice/],
    [(d) => (d['stages'][0].stpes = 3), /^stages\[0\]\.stpes: unknown field/],
    [(d) => (d['stages'][0].task = 'lm'), /^stages\[0\]\.task: must be mlm, classification or qa/],
    [(d) => delete d['stages'][0].dataset, /^stages\[0\]\.dataset: is required/],
    [(d) => (d['stages'][1].steps = 5), /^stages\[1\]\.steps: give steps or epochs, not both/],
    [(d) => delete d['defaults'], /^stages\[0\]\.steps: give steps or epochs/],
    [(d) => (d['stages'][0].batchSize = 0), /^stages\[0\]\.batchSize: must be in 1\.\.65536, got 0/],
    [(d) => (d['stages'][2].docStride = 16), /^stages\[2\]\.docStride: must be a positive integer below maxSeqLen/],
    [(d) => (d['stages'][0].init = 'previous'), /^stages\[0\]\.init: the first stage has no previous stage/],
    [(d) => (d['model'].hiddenSize = 15), /^model\.hiddenSize: 15 is not a multiple of numAttentionHeads 2/],
    [(d) => (d['model'].layers = 2), /^model\.layers: unknown field/],
    [(d) => (d['seeds'] = [1, 1]), /^seeds: seed 1 is listed twice/],
    [(d) => (d['seeds'] = ['x']), /^seeds\[0\]: must be an integer/],
    [(d) => (d['name'] = 'has space'), /^name: must be 1-48/],
    [(d) => (d['variants'] = []), /^variants: give at least one attention variant/],
    [(d) => (d['colour'] = 'red'), /^colour: unknown field/],
  ];
  for (const [mutate, re] of cases) {
    const d = base();
    mutate(d);
    assert.throws(() => checkStudyShape(d), (e: Error) => e.name === 'StudyDefinitionError' && re.test(e.message), `expected ${re}`);
  }
  assert.throws(() => parseStudyText('{"name": ', 'x.json'), /^Error: x\.json: not valid JSON|x\.json: not valid JSON/);
});

const ds = (name: string, kind: DatasetRow['kind'], tokenizer = 'wp'): DatasetRow =>
  ({ name, kind, tokenizer, id: 1, source: '', format: 'txt', dir: '/x', numRecords: 1, numTokens: 1, splits: {}, labelSet: [], stats: {}, sha256: '', builtin: false, createdAt: 0 });

test('against the lab: a missing dataset, the wrong kind, another tokenizer along the pipeline', () => {
  const def = checkStudyShape(base());
  const lab = new Map([['text-a', ds('text-a', 'text')], ['cls-a', ds('cls-a', 'classification')], ['qa-a', ds('qa-a', 'qa')]]);
  checkStudyAgainstLab(def, (n) => lab.get(n));
  const without = new Map(lab);
  without.delete('cls-a');
  assert.throws(() => checkStudyAgainstLab(def, (n) => without.get(n)), /^StudyDefinitionError: stages\[1\]\.dataset: no dataset 'cls-a' in the lab|stages\[1\]\.dataset: no dataset 'cls-a' in the lab/);
  const wrongKind = new Map(lab).set('qa-a', ds('qa-a', 'text'));
  assert.throws(() => checkStudyAgainstLab(def, (n) => wrongKind.get(n)), /stages\[2\]\.dataset: task qa needs a qa dataset; 'qa-a' is text/);
  const otherTok = new Map(lab).set('cls-a', ds('cls-a', 'classification', 'other'));
  assert.throws(() => checkStudyAgainstLab(def, (n) => otherTok.get(n)), /stages\[1\]\.dataset: starts from stage 0's weights, so it needs that stage's tokenizer 'wp'; 'cls-a' uses 'other'/);
  const synth = base();
  synth['stages'][1].dataset = 'synthetic:random';
  assert.throws(() => checkStudyAgainstLab(checkStudyShape(synth), (n) => lab.get(n)), /stages\[1\]\.dataset: synthetic:random is for task mlm only/);
});

test('the grid: stage, then variant, then seed; a cell spec carries the budget, the seed, initFrom and the study tag', () => {
  const def = checkStudyShape(base());
  const cells = studyCells(def);
  assert.equal(cells.length, 3 * 2 * 2);
  assert.deepEqual(cells.slice(0, 5).map((c) => `${c.stage}/${c.variant}/${c.seed}/${c.index}`), ['0/exact/1/0', '0/exact/2/1', '0/lsh-masked/1/2', '0/lsh-masked/2/3', '1/exact/1/4']);
  const spec = cellSpec(def, { stage: 1, variant: 'lsh-masked', seed: '2' }, '/lab/runs/x/checkpoints/step-00000010');
  assert.equal(spec.task, 'classification');
  assert.equal(spec.attention, 'bert-lsh');
  assert.deepEqual(spec.attentionParams, { fill: 'masked', bands: 3 });
  assert.equal(spec.seed, '2');
  assert.equal(spec.epochs, 1);
  assert.equal(spec.steps, undefined);
  assert.equal(spec.initFrom, '/lab/runs/x/checkpoints/step-00000010');
  assert.equal(spec.name, 'grid.classification.lsh-masked.s2');
  assert.deepEqual(spec.tags, ['study:grid']);
  assert.equal(spec.model.hiddenSize, 16);
});

test("the paper's study: five variants, three seeds, three stages on the built-ins (or the given datasets)", () => {
  const quick = checkStudyShape(paperStudy({ quick: true }));
  assert.equal(quick.name, 'paper-quick');
  assert.deepEqual(quick.variants.map((v) => v.key), ['exact', 'bert-lsh', 'bert-lsh-masked', 'yoso', 'reformer']);
  assert.deepEqual(quick.variants[1]?.params, { bands: 2, table_size: 64, num_hashes: 1 });
  assert.equal(quick.variants[2]?.params['fill'], 'masked');
  assert.deepEqual(quick.seeds, ['1', '2', '3']);
  assert.deepEqual(quick.stages.map((s) => `${s.task}:${s.dataset}:${s.init}`), ['mlm:builtin-text:none', 'classification:builtin-spam:previous', 'qa:builtin-qa:previous']);
  const full = checkStudyShape(paperStudy({ quick: false, pretrain: 'books', classification: 'sst2', qa: 'squad' }));
  assert.equal(full.name, 'paper-books-sst2-squad');
  assert.deepEqual(full.stages.map((s) => s.dataset), ['books', 'sst2', 'squad']);
  assert.ok((full.stages[0]?.budget.steps ?? 0) > (quick.stages[0]?.budget.steps ?? 0));
});

test('a definition from flags', () => {
  const raw = definitionFromFlags({
    name: 'flags',
    variant: ['exact', 'masked=bert-lsh:fill=masked,bands=2'],
    stage: ['mlm:synthetic:random:steps=5,batchSize=4', 'mlm:synthetic:random:steps=3,name=again'],
    seeds: '1,7',
    model: 'hiddenSize=16,numHiddenLayers=1,numAttentionHeads=2,intermediateSize=32,maxSeqLen=16',
  });
  // "synthetic:random" holds a colon itself: the fields are the last part.
  const def = checkStudyShape(raw);
  assert.deepEqual(def.seeds, ['1', '7']);
  assert.deepEqual(def.variants[1], { key: 'masked', attention: 'bert-lsh', params: { fill: 'masked', bands: 2 } });
  assert.deepEqual(def.stages.map((s) => s.name), ['mlm', 'again']);
  assert.equal(def.stages[1]?.budget.steps, 3);
});
