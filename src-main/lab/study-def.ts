/**
 * study-def.ts: what a study is. A study is a named grid: attention variants (each with its
 * parameters) x seeds x a pipeline of stages (task on a dataset with a training budget; a stage
 * after the first starts from the final checkpoint of the previous stage of the same variant and
 * seed unless it says init "none"). This file reads a definition (the JSON a user writes, or the
 * same object built from flags), checks it as a whole, and normalizes it: every default filled
 * in, so the definition stored with the study fixes every run of it even if lshlab's defaults
 * change later. It also lists the grid's cells in order and builds each cell's RunSpec.
 *
 * Checks are in two parts: checkStudyShape (the file alone: fields, types, ranges, attention
 * parameters, every cell's RunSpec through validateSpec) and checkStudyAgainstLab (datasets exist,
 * have the kind the task needs, and chained stages share a tokenizer). Each throws one
 * StudyDefinitionError naming the field, e.g. "stages[1].dataset: no dataset 'sst2' in the lab".
 */
import { checkAttentionParams } from '../api/attention-params.js';
import { MODEL_RANGES, TRAIN_RANGES, type SettingRange } from '../api/training-params.js';
import type { DatasetRow } from '../store/types.js';
import { STUDY_NAME_RE } from '../store/studies.js';
import { defaultSpec, DEFAULT_MODEL, SpecError, validateSpec, type ModelSpec, type RunSpec } from '../training/spec.js';
import { SYNTHETIC_RANDOM } from '../training/task-source.js';
import { TASK_KIND } from './task-data.js';
import type { Task } from '../engine/types.js';

export const STUDY_FORMAT = 'lshlab-study';
/** The training settings a stage (or the study's `defaults`) may give. */
export const BUDGET_FIELDS = [
  'steps', 'epochs', 'batchSize', 'lr', 'warmupSteps', 'weightDecay', 'maxGradNorm',
  'evalEvery', 'evalBatches', 'saveEvery', 'mlmProb', 'docStride',
] as const;
export type BudgetField = (typeof BUDGET_FIELDS)[number];
export type StageBudget = Partial<Pick<RunSpec, BudgetField>>;

export interface StudyVariant {
  /** Unique in the study, [A-Za-z0-9._-]{1,32}: names the variant in tables and run names. */
  key: string;
  attention: string;
  params: Record<string, string | number>;
}

export interface StudyStage {
  name: string;
  task: Task;
  dataset: string;
  /** 'previous': start from the previous stage's final checkpoint (same variant and seed). */
  init: 'previous' | 'none';
  budget: StageBudget;
}

export interface StudyDefinition {
  format: typeof STUDY_FORMAT;
  version: 1;
  name: string;
  description: string;
  model: ModelSpec;
  seeds: string[];
  variants: StudyVariant[];
  stages: StudyStage[];
}

export class StudyDefinitionError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'StudyDefinitionError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const KEY_RE = /^[A-Za-z0-9._-]{1,32}$/;

function fields(where: string, o: unknown, allowed: readonly string[]): Obj {
  if (!isObj(o)) throw new StudyDefinitionError(where || 'study', 'must be an object');
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) throw new StudyDefinitionError(where ? `${where}.${k}` : k, `unknown field (known: ${allowed.join(', ')})`);
  return o;
}

function inRange(field: string, v: unknown, r: SettingRange): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new StudyDefinitionError(field, `must be a number, got ${JSON.stringify(v)}`);
  if (r.type === 'int' && !Number.isInteger(v)) throw new StudyDefinitionError(field, `must be an integer, got ${v}`);
  if (v < r.min || v > r.max) throw new StudyDefinitionError(field, `must be in ${r.min}..${r.max}, got ${v}`);
  return v;
}

function budgetOf(where: string, o: Obj): StageBudget {
  const b: Record<string, number> = {};
  for (const f of BUDGET_FIELDS) if (o[f] !== undefined) b[f] = inRange(`${where}.${f}`, o[f], TRAIN_RANGES[f]);
  return b as StageBudget;
}

function seedsOf(v: unknown): string[] {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1 || v > 100) throw new StudyDefinitionError('seeds', `a count must be an integer in 1..100, got ${v}`);
    return Array.from({ length: v }, (_, i) => String(i + 1));
  }
  if (!Array.isArray(v) || v.length === 0) throw new StudyDefinitionError('seeds', 'give a count (3) or a list of seeds ([1, 2, 3])');
  const out = v.map((s, i) => {
    const t = typeof s === 'number' && Number.isSafeInteger(s) && s >= 0 ? String(s) : typeof s === 'string' ? s.trim() : '';
    if (!/^\d{1,20}$/.test(t) || BigInt(t) >= 1n << 64n) throw new StudyDefinitionError(`seeds[${i}]`, `must be an integer in [0, 2^64), got ${JSON.stringify(s)}`);
    return String(BigInt(t));
  });
  const dup = out.find((s, i) => out.indexOf(s) !== i);
  if (dup !== undefined) throw new StudyDefinitionError('seeds', `seed ${dup} is listed twice`);
  return out;
}

function variantOf(v: unknown, i: number): StudyVariant {
  const where = `variants[${i}]`;
  if (typeof v === 'string') v = { attention: v };
  const o = fields(where, v, ['key', 'attention', 'params']);
  if (typeof o['attention'] !== 'string') throw new StudyDefinitionError(`${where}.attention`, 'is required (exact, bert-lsh, yoso-e, yoso, reformer)');
  const attention = o['attention'];
  if (o['params'] !== undefined && !isObj(o['params'])) throw new StudyDefinitionError(`${where}.params`, 'must be an object, e.g. {"fill": "masked"}');
  const params = (o['params'] ?? {}) as Obj;
  for (const [k, p] of Object.entries(params))
    if (typeof p !== 'string' && typeof p !== 'number') throw new StudyDefinitionError(`${where}.params.${k}`, 'must be a string or a number');
  const issues = checkAttentionParams(attention, params as Record<string, string | number>);
  if (issues[0]) throw new StudyDefinitionError(issues[0].param ? `${where}.params.${issues[0].param}` : `${where}.attention`, issues[0].message);
  const key = o['key'] === undefined ? attention : o['key'];
  if (typeof key !== 'string' || !KEY_RE.test(key)) throw new StudyDefinitionError(`${where}.key`, `must be 1-32 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(key)}`);
  return { key, attention, params: params as Record<string, string | number> };
}

function stageOf(v: unknown, i: number, defaults: StageBudget): StudyStage {
  const where = `stages[${i}]`;
  const o = fields(where, v, ['name', 'task', 'dataset', 'init', ...BUDGET_FIELDS]);
  const task = o['task'];
  if (task !== 'mlm' && task !== 'classification' && task !== 'qa') throw new StudyDefinitionError(`${where}.task`, `must be mlm, classification or qa, got ${JSON.stringify(task)}`);
  if (typeof o['dataset'] !== 'string' || o['dataset'].trim() === '') throw new StudyDefinitionError(`${where}.dataset`, 'is required (a dataset name: lshlab datasets list)');
  const init = o['init'] ?? (i === 0 ? 'none' : 'previous');
  if (init !== 'previous' && init !== 'none') throw new StudyDefinitionError(`${where}.init`, `must be "previous" or "none", got ${JSON.stringify(init)}`);
  if (i === 0 && init === 'previous') throw new StudyDefinitionError(`${where}.init`, 'the first stage has no previous stage');
  const name = o['name'] ?? task;
  if (typeof name !== 'string' || !KEY_RE.test(name)) throw new StudyDefinitionError(`${where}.name`, `must be 1-32 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`);
  const own = budgetOf(where, o);
  // A stage's steps or epochs replaces the defaults' (giving one must not leave the other behind).
  const inherited = own.steps !== undefined || own.epochs !== undefined ? { ...defaults, steps: undefined, epochs: undefined } : defaults;
  const merged: StageBudget = { ...inherited, ...own };
  if (merged.steps !== undefined && merged.epochs !== undefined) throw new StudyDefinitionError(`${where}.steps`, 'give steps or epochs, not both');
  if (merged.steps === undefined && merged.epochs === undefined) throw new StudyDefinitionError(`${where}.steps`, 'give steps or epochs (here or in defaults)');
  // Freeze every default now: the stored definition must mean the same runs tomorrow.
  const d = defaultSpec({ task, dataset: o['dataset'] });
  const budget: Record<string, number> = {};
  for (const f of BUDGET_FIELDS) {
    const val = merged[f] ?? (f === 'steps' || f === 'epochs' ? undefined : (d[f] as number));
    if (val !== undefined) budget[f] = val;
  }
  return { name, task, dataset: o['dataset'].trim(), init, budget: budget as StageBudget };
}

/** Checks a parsed definition (from JSON or flags) on its own and returns it normalized. */
export function checkStudyShape(raw: unknown): StudyDefinition {
  const o = fields('', raw, ['format', 'version', 'name', 'description', 'model', 'seeds', 'defaults', 'variants', 'stages']);
  if (o['format'] !== undefined && o['format'] !== STUDY_FORMAT) throw new StudyDefinitionError('format', `must be "${STUDY_FORMAT}"`);
  if (o['version'] !== undefined && o['version'] !== 1) throw new StudyDefinitionError('version', `this lshlab reads version 1, got ${JSON.stringify(o['version'])}`);
  const name = o['name'];
  if (typeof name !== 'string' || !STUDY_NAME_RE.test(name)) throw new StudyDefinitionError('name', `must be 1-48 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`);
  if (o['description'] !== undefined && typeof o['description'] !== 'string') throw new StudyDefinitionError('description', 'must be a string');
  const m = o['model'] === undefined ? {} : fields('model', o['model'], Object.keys(MODEL_RANGES));
  // Only the fields a study may set (MODEL_RANGES), so the stored definition reads back the same
  // even if ModelSpec gains fields (those keep their run-time defaults).
  const model = Object.fromEntries(Object.keys(MODEL_RANGES).map((k) => [k, DEFAULT_MODEL[k as keyof ModelSpec]])) as unknown as ModelSpec;
  for (const k of Object.keys(MODEL_RANGES) as (keyof typeof MODEL_RANGES)[]) if (m[k] !== undefined) model[k] = inRange(`model.${k}`, m[k], MODEL_RANGES[k]);
  const seeds = seedsOf(o['seeds']);
  if (!Array.isArray(o['variants']) || o['variants'].length === 0) throw new StudyDefinitionError('variants', 'give at least one attention variant');
  const variants = o['variants'].map(variantOf);
  variants.forEach((v, i) => {
    if (variants.findIndex((w) => w.key === v.key) !== i) throw new StudyDefinitionError(`variants[${i}].key`, `'${v.key}' is used twice (give each variant its own "key")`);
  });
  const defaults = o['defaults'] === undefined ? {} : budgetOf('defaults', fields('defaults', o['defaults'], BUDGET_FIELDS));
  if (!Array.isArray(o['stages']) || o['stages'].length === 0) throw new StudyDefinitionError('stages', 'give at least one stage');
  const stages = o['stages'].map((s, i) => stageOf(s, i, defaults));
  stages.forEach((s, i) => {
    if (stages.findIndex((t) => t.name === s.name) !== i) throw new StudyDefinitionError(`stages[${i}].name`, `'${s.name}' is used twice (give the stages distinct names)`);
  });
  const def: StudyDefinition = { format: STUDY_FORMAT, version: 1, name, description: (o['description'] as string | undefined) ?? '', model, seeds, variants, stages };
  // The cross-field rules of a run (heads divide hidden, docStride below maxSeqLen, ...).
  for (const si of stages.keys())
    for (const v of variants) {
      try {
        validateSpec(cellSpec(def, { stage: si, variant: v.key, seed: seeds[0] as string }));
      } catch (e) {
        if (!(e instanceof SpecError)) throw e;
        throw new StudyDefinitionError(e.field.startsWith('model.') ? e.field : `stages[${si}].${e.field}`, e.message.slice(e.field.length + 2));
      }
    }
  return def;
}

/** What the lab must hold for the study: its datasets, of the right kinds, tokenizers shared along a pipeline. */
export function checkStudyAgainstLab(def: StudyDefinition, dataset: (name: string) => DatasetRow | undefined): void {
  const tokenizers: string[] = [];
  for (const [i, s] of def.stages.entries()) {
    const field = `stages[${i}].dataset`;
    let tokenizer: string;
    if (s.dataset.startsWith('synthetic:')) {
      if (s.dataset !== SYNTHETIC_RANDOM) throw new StudyDefinitionError(field, `unknown synthetic dataset '${s.dataset}' (there is ${SYNTHETIC_RANDOM})`);
      if (s.task !== 'mlm') throw new StudyDefinitionError(field, `${SYNTHETIC_RANDOM} is for task mlm only`);
      tokenizer = SYNTHETIC_RANDOM;
    } else {
      const row = dataset(s.dataset);
      if (!row) throw new StudyDefinitionError(field, `no dataset '${s.dataset}' in the lab (see lshlab datasets list; lshlab datasets import or add-builtin)`);
      if (row.kind !== TASK_KIND[s.task]) throw new StudyDefinitionError(field, `task ${s.task} needs a ${TASK_KIND[s.task]} dataset; '${s.dataset}' is ${row.kind}`);
      tokenizer = row.tokenizer;
    }
    const prev = tokenizers[i - 1];
    if (s.init === 'previous' && prev !== undefined && prev !== tokenizer)
      throw new StudyDefinitionError(field, `starts from stage ${i - 1}'s weights, so it needs that stage's tokenizer '${prev}'; '${s.dataset}' uses '${tokenizer}' (or set "init": "none")`);
    tokenizers.push(tokenizer);
  }
}

/** Reads a study file's text (JSON). */
export function parseStudyText(text: string, file: string): StudyDefinition {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new StudyDefinitionError(file, `not valid JSON (${(e as Error).message})`);
  }
  return checkStudyShape(raw);
}

// ---- the grid -----------------------------------------------------------------------------------

export interface StudyCell {
  stage: number;
  variant: string;
  seed: string;
  /** 0-based position in run order (stage, then variant, then seed). */
  index: number;
}

export function studyCells(def: StudyDefinition): StudyCell[] {
  const out: StudyCell[] = [];
  def.stages.forEach((_, stage) => def.variants.forEach((v) => def.seeds.forEach((seed) => out.push({ stage, variant: v.key, seed, index: out.length }))));
  return out;
}

export const cellId = (c: { stage: number; variant: string; seed: string }): string => `${c.stage}/${c.variant}/${c.seed}`;

/** The RunSpec of one cell; `initFrom` is the previous stage's checkpoint directory, if the stage starts from it. */
export function cellSpec(def: StudyDefinition, cell: { stage: number; variant: string; seed: string }, initFrom?: string): RunSpec {
  const stage = def.stages[cell.stage];
  const variant = def.variants.find((v) => v.key === cell.variant);
  if (!stage || !variant) throw new RangeError(`study ${def.name} has no cell (stage ${cell.stage}, ${cell.variant})`);
  const spec = defaultSpec({
    task: stage.task,
    dataset: stage.dataset,
    attention: variant.attention,
    attentionParams: { ...variant.params },
    model: { ...def.model },
    seed: cell.seed,
    // Run names are at most 128 characters (lab/runs.ts); only an extreme seed could exceed it.
    name: `${def.name}.${stage.name}.${variant.key}.s${cell.seed}`.slice(0, 128),
    tags: [`study:${def.name}`],
    ...stage.budget,
  });
  // initFrom: fine-tuning from a checkpoint's encoder weights (RunSpec.initFrom; recorded as trainConfig.initFrom).
  if (initFrom !== undefined) spec.initFrom = initFrom;
  return spec;
}

/** The definition as stored and shown: stages flat (budget fields beside task and dataset), the
 *  same shape a user writes, so checkStudyShape(studyJson(def)) gives `def` back. */
export function studyJson(def: StudyDefinition): Record<string, unknown> {
  return {
    format: def.format,
    version: def.version,
    name: def.name,
    description: def.description,
    model: { ...def.model },
    seeds: [...def.seeds],
    variants: def.variants.map((v) => ({ key: v.key, attention: v.attention, params: { ...v.params } })),
    stages: def.stages.map((s) => ({ name: s.name, task: s.task, dataset: s.dataset, init: s.init, ...s.budget })),
  };
}

/** JSON with object keys sorted, to tell whether two definitions are the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v as object).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** The first place two definitions differ ("stages[0].steps: 100 here, 200 stored"), or null. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | null {
  if (canonicalJson(a) === canonicalJson(b)) return null;
  const isO = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object';
  if (isO(a) && isO(b) && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) return `${at || 'definition'}: ${a.length} entries here, ${b.length} stored`;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[k], b[k], Array.isArray(a) ? `${at}[${k}]` : at ? `${at}.${k}` : k);
      if (d) return d;
    }
  }
  return `${at || 'definition'}: ${JSON.stringify(a) ?? 'absent'} here, ${JSON.stringify(b) ?? 'absent'} stored`;
}
