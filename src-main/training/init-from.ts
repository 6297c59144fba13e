/**
 * init-from.ts: fine-tuning from pretrained weights, the Node side. A run's `initFrom` names a
 * directory with config.json + model.safetensors: a checkpoint of an lshlab run or a Hugging Face
 * BERT folder (as `save_pretrained` writes it). This module
 *   - reads the source's description without loading its weights (config.json and the safetensors
 *     header: names, shapes, the lshlab step) and says what is wrong with it, naming the file;
 *   - derives the model dimensions from the source's config.json (flags the user gave win);
 *   - builds the run's lineage (recorded as trainConfig.initFrom) and its one-line description
 *     for `runs show` and the comparison.
 * The weights themselves are loaded by the engine (Trainer.initFrom, native/engine/io/init_from.h),
 * which checks every name and shape; `ignoredSourceTensors` mirrors its rule for what it ignores
 * so that the lineage can be recorded before the training process starts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Task } from '../engine/types.js';
import type { LabStore, RunRow } from '../store/types.js';
import type { ModelSpec } from './spec.js';
import type { InitLineage } from './lineage.js';

export type { InitLineage } from './lineage.js';

export interface InitSource {
  dir: string;
  /** config.json as parsed. */
  config: Record<string, unknown>;
  /** Tensor name -> shape, from model.safetensors' header. */
  tensors: Map<string, number[]>;
  /** `lshlab_step` of model.safetensors (lshlab checkpoints). */
  step?: number;
  kind: 'lshlab-run' | 'hf-folder';
}

/** Reads safetensors' header: u64 little-endian length, then that many bytes of JSON. */
function readSafetensorsHeader(file: string): { tensors: Map<string, number[]>; metadata: Record<string, string> } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const len8 = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, len8, 0, 8, 0) !== 8) throw new Error(`${file}: not a safetensors file (shorter than 8 bytes)`);
    const n = Number(len8.readBigUInt64LE(0));
    if (n > size - 8 || n > 100 * 1024 * 1024) throw new Error(`${file}: not a safetensors file (header length ${n} exceeds the file)`);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${file}: header is not valid JSON (${(e as Error).message})`);
    }
    const tensors = new Map<string, number[]>();
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const shape = (v as { shape?: unknown } | null)?.shape;
      if (!Array.isArray(shape)) throw new Error(`${file}: tensor '${name}' has no shape`);
      tensors.set(name, shape as number[]);
    }
    return { tensors, metadata: (header['__metadata__'] as Record<string, string> | undefined) ?? {} };
  } finally {
    fs.closeSync(fd);
  }
}

/** The source directory's description; throws naming the directory or file at fault. */
export function readInitSource(dirIn: string): InitSource {
  const dir = path.resolve(dirIn);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new Error(`${dir}: no such directory (--init-from takes a run, a checkpoint directory or a Hugging Face BERT folder)`);
  for (const f of ['config.json', 'model.safetensors'])
    if (!fs.existsSync(path.join(dir, f)))
      throw new Error(`${dir}: no ${f} (a checkpoint or Hugging Face BERT folder has config.json and model.safetensors` +
        (f === 'model.safetensors' && fs.existsSync(path.join(dir, 'pytorch_model.bin'))
          ? '; this folder has pytorch_model.bin only: convert it with save_pretrained(dir, safe_serialization=True)' : '') + ')');
  const cfgFile = path.join(dir, 'config.json');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${cfgFile}: not valid JSON (${(e as Error).message})`);
  }
  if (config['model_type'] !== undefined && config['model_type'] !== 'bert')
    throw new Error(`${cfgFile}: model_type is ${JSON.stringify(config['model_type'])}; lshlab loads BERT models only`);
  const { tensors, metadata } = readSafetensorsHeader(path.join(dir, 'model.safetensors'));
  const step = metadata['lshlab_step'] !== undefined ? Number(metadata['lshlab_step']) : undefined;
  return { dir, config, tensors, ...(step !== undefined ? { step } : {}), kind: config['lshlab_task'] !== undefined ? 'lshlab-run' : 'hf-folder' };
}

const intField = (src: InitSource, key: string): number | undefined => {
  const v = src.config[key];
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`${path.join(src.dir, 'config.json')}: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
};

/**
 * The model of a fine-tuning run: dimensions from the source's config.json, except the fields in
 * `given` (flags the user set), which keep `model`'s value; a mismatch then fails in the engine,
 * naming the tensor and both shapes. maxSeqLen is capped at the source's position embeddings.
 */
export function modelFromSource(src: InitSource, model: ModelSpec, given: ReadonlySet<keyof ModelSpec> = new Set()): ModelSpec {
  const out: ModelSpec = { ...model };
  const take = (k: keyof ModelSpec, key: string): void => {
    const v = intField(src, key);
    if (v !== undefined && !given.has(k)) (out as unknown as Record<string, number>)[k] = v;
  };
  take('hiddenSize', 'hidden_size');
  take('numHiddenLayers', 'num_hidden_layers');
  take('numAttentionHeads', 'num_attention_heads');
  take('intermediateSize', 'intermediate_size');
  take('maxPositionEmbeddings', 'max_position_embeddings');
  if (out.maxPositionEmbeddings !== undefined && !given.has('maxSeqLen')) out.maxSeqLen = Math.min(out.maxSeqLen, out.maxPositionEmbeddings);
  const eps = src.config['layer_norm_eps'];
  if (typeof eps === 'number' && !given.has('layerNormEps')) out.layerNormEps = eps;
  return out;
}

/** HF / lshlab name of a source tensor (as native canonical_source_name). */
export function canonicalSourceName(name: string): string {
  let n = /^(embeddings|encoder|pooler)\./.test(name) ? `bert.${name}` : name;
  if (n.includes('LayerNorm.')) n = n.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias');
  return n;
}

const STANDARD_LAYER_SUFFIX =
  /^(attention\.self\.(query|key|value)|attention\.output\.dense|attention\.output\.LayerNorm|intermediate\.dense|output\.dense|output\.LayerNorm)\.(weight|bias)$/;

/**
 * Source tensors a `task` model ignores: heads (cls.*, classifier.*, qa_outputs.*), a pooler when
 * the task has none (mlm, qa), attention-variant parameters. Mirrors native init_weights_from for
 * the lineage; a variant parameter that the target variant has too is counted as loaded here.
 */
export function ignoredSourceTensors(src: InitSource, task: Task, targetVariantSuffixes: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const raw of src.tensors.keys()) {
    const n = canonicalSourceName(raw);
    if (n === 'bert.embeddings.position_ids' || n === 'bert.embeddings.token_type_ids') continue;
    if (/^(cls|classifier|qa_outputs)\./.test(n)) out.push(raw);
    else if (n.startsWith('bert.pooler.') && task !== 'classification') out.push(raw);
    else {
      const m = /^bert\.encoder\.layer\.\d+\.(.+)$/.exec(n);
      if (m && !STANDARD_LAYER_SUFFIX.test(m[1]!) && !targetVariantSuffixes.includes(m[1]!)) out.push(raw);
    }
  }
  return out;
}

/** The run a checkpoint directory belongs to: <dataDir>/runs/<uuid>/checkpoints/step-N. */
export function runOfCheckpointDir(store: LabStore, dataDir: string, dir: string): RunRow | undefined {
  const rel = path.relative(path.join(dataDir, 'runs'), dir);
  const m = /^([0-9a-f]{32})[/\\]checkpoints[/\\]step-\d{8}$/.exec(rel);
  return m ? store.runs.resolve(m[1]!) : undefined;
}

export function lineageOf(src: InitSource, task: Task, run: RunRow | undefined, variantSuffixes: readonly string[] = []): InitLineage {
  const arch = Array.isArray(src.config['architectures']) ? String(src.config['architectures'][0]) : '';
  const sourceTask =
    typeof src.config['lshlab_task'] === 'string' ? src.config['lshlab_task']
    : arch === 'BertForSequenceClassification' ? 'classification'
    : arch === 'BertForQuestionAnswering' ? 'qa'
    : arch === 'BertForMaskedLM' || arch === 'BertForPreTraining' ? 'mlm' : undefined;
  return {
    dir: src.dir,
    kind: src.kind,
    ...(run ? { sourceRunId: run.id, sourceRunName: run.name } : {}),
    ...(src.step !== undefined ? { sourceStep: src.step } : {}),
    ...(sourceTask !== undefined ? { sourceTask } : {}),
    sourceAttention: typeof src.config['lshlab_attention'] === 'string' ? src.config['lshlab_attention'] : 'exact',
    ignored: ignoredSourceTensors(src, task, variantSuffixes),
  };
}

/** HF suffixes (under bert.encoder.layer.N.) of the parameters an attention variant owns. Mirrors
 *  the engine's parameter_specs: today only YOSO-C's depthwise conv (yoso, yoso-e with conv_window > 0). */
export function variantParameterSuffixes(attention: string, params: Record<string, string | number>): string[] {
  return (attention === 'yoso' || attention === 'yoso-e') && Number(params['conv_window'] ?? 0) > 0 ? ['attention.self.conv.weight'] : [];
}
