/**
 * `lshlab train`: trains one run on a lab dataset in a child process and records it in the lab's
 * database (config, per-step metrics, evaluations, checkpoints, environment), with a progress bar.
 * Exit status: 0 finished (or cancelled by Ctrl-C), 1 failed / diverged / crashed.
 */
import { defineCommand } from '../command.js';
import { UsageError } from '../args.js';
import { ATTENTION_PARAM_FLAG_SPECS, collectAttentionParams, PARAM_FLAGS } from '../attention-flags.js';
import { CUDA_GRAPHS_FLAG, cudaGraphsFlag, describeEnd, DEVICE_FLAG, deviceFlag, openLabAsHost, PRECISION_FLAG, precisionFlag, trainOne } from '../run-training.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultSpec, DEFAULT_MODEL, SpecError, type ModelSpec, type RunSpec } from '../../training/spec.js';
import { modelFromSource, readInitSource, type InitSource } from '../../training/init-from.js';
import { checkpointsDir, listCheckpoints } from '../../training/checkpoints.js';
import { runDirOf, specOfRun } from '../../training/host.js';
import type { LabStore, RunRow } from '../../store/types.js';
import type { Task } from '../../engine/types.js';
import { num } from '../format.js';
import { checkAttentionParams } from '../../api/attention-params.js';
import { MODEL_RANGES, TRAIN_RANGES, type SettingRange } from '../../api/training-params.js';

/** A flag whose range is the shared one (api/training-params.ts, also the API contract's). */
const ranged = (r: SettingRange, metavar: string, description: string = r.description) =>
  ({ type: r.type, min: r.min, max: r.max, metavar, description }) as const;

export const trainCommand = defineCommand({
  path: ['train'],
  summary: 'train a model on a lab dataset and record the run',
  usage:
    'train --task mlm|classification|qa --dataset NAME [--attention V] [variant parameters] [--hidden --layers --heads ' +
    '--intermediate --max-seq-len] [--steps N | --epochs E] [--batch --lr --warmup --seed] [--eval-every N] ' +
    '[--save-every N] [--from-checkpoint DIR|RUN] [--init-from RUN|DIR] [--device auto|cpu|cuda[:N]] [--precision fp32|tf32|bf16] [--cuda-graphs on|off]',
  details: [
    'Each run trains in its own process; Ctrl-C cancels after the current step (a checkpoint is kept), twice stops at once.',
    'Defaults: BERT-tiny (hidden 128, 2 layers, 2 heads, FFN 512), sequence 128, batch 32, lr 1e-3 with 20 warmup',
    'steps and linear decay, AdamW (weight decay 0.01), clipping at 1.0, seed 42. --dataset synthetic:random trains',
    'masked-LM on random tokens (a throughput workload). --from-checkpoint takes a checkpoint directory or a run',
    '(id, uuid prefix or name: its latest checkpoint, and its settings as the defaults of this run) and continues',
    "to --steps with the checkpoint's step count: `lshlab train --from-checkpoint RUN --steps 2000`.",
    '--init-from fine-tunes: the encoder weights come from a run (its latest checkpoint), a checkpoint directory or a',
    'Hugging Face BERT folder (config.json + model.safetensors); the task head, optimizer and step start fresh. The',
    "model's dimensions and attention variant default to the source's; a flag given here wins (a shape mismatch then",
    "fails before training, naming the tensor). The dataset must be tokenized with the source's vocabulary",
    "(`lshlab tokenizer import FOLDER --name N`, then `datasets import ... --tokenizer N`).",
    '--device auto (the default) trains on a CUDA device no other live run uses when CUDA is usable, and says which;',
    'else the CPU, saying why. cuda / cuda:N fail with the reason (no driver, no such device; docs/gpu-status.md).',
    '--precision tf32 runs the GEMMs on TF32 tensor cores, bf16 with bf16 operands and fp32 accumulation, and exact',
    'attention (head size 64 or 128) on bf16 tensor cores (everything else stays fp32); both are CUDA only (the CPU',
    'refuses them). The precision is recorded',
    'with the run (runs show) and a resumed run keeps it unless --precision says otherwise.',
    '--cuda-graphs off runs every CUDA step eagerly, so the step parts (train/forward_s ...) are timed; on (the',
    'default) replays steps as CUDA graphs where it can, with the same results bit for bit.',
  ].join('\n'),
  flags: {
    task: { type: 'string', choices: ['mlm', 'classification', 'qa'], metavar: 'mlm|classification|qa', description: 'task (required unless resuming a run)' },
    dataset: { type: 'string', metavar: 'NAME', description: "a dataset of 'lshlab datasets list', or synthetic:random (required unless resuming a run)" },
    attention: { type: 'string', metavar: 'V', description: 'exact (default), bert-lsh, yoso-e, yoso or reformer' },
    ...ATTENTION_PARAM_FLAG_SPECS,
    hidden: ranged(MODEL_RANGES.hiddenSize, 'N'),
    layers: ranged(MODEL_RANGES.numHiddenLayers, 'N'),
    heads: ranged(MODEL_RANGES.numAttentionHeads, 'N'),
    intermediate: ranged(MODEL_RANGES.intermediateSize, 'N'),
    'max-seq-len': ranged(MODEL_RANGES.maxSeqLen, 'T'),
    dropout: ranged(MODEL_RANGES.hiddenDropoutProb, 'P', 'hidden and attention dropout (default 0.1)'),
    steps: ranged(TRAIN_RANGES.steps, 'N'),
    epochs: ranged(TRAIN_RANGES.epochs, 'E', 'passes over the training split (instead of --steps)'),
    batch: ranged(TRAIN_RANGES.batchSize, 'B'),
    lr: ranged(TRAIN_RANGES.lr, 'LR', 'peak learning rate (default 1e-3)'),
    warmup: ranged(TRAIN_RANGES.warmupSteps, 'N', 'linear warmup steps (default 20)'),
    'weight-decay': ranged(TRAIN_RANGES.weightDecay, 'W', 'AdamW weight decay (default 0.01)'),
    'max-grad-norm': ranged(TRAIN_RANGES.maxGradNorm, 'G', 'gradient clipping (default 1; 0 = off)'),
    seed: { type: 'string', metavar: 'S', description: 'seed of weights, data order, masking and dropout (default 42)' },
    'eval-every': ranged(TRAIN_RANGES.evalEvery, 'N', 'evaluate every N steps (default: only at the end)'),
    'eval-batches': ranged(TRAIN_RANGES.evalBatches, 'N', 'validation batches per evaluation (default 20; 0 = all)'),
    'save-every': ranged(TRAIN_RANGES.saveEvery, 'N', 'checkpoint every N steps (default: only at the end)'),
    'from-checkpoint': { type: 'string', metavar: 'DIR|RUN', description: 'resume: a checkpoint directory or a run' },
    'init-from': { type: 'string', metavar: 'RUN|DIR', description: 'fine-tune: encoder weights from a run, a checkpoint or a Hugging Face BERT folder' },
    'doc-stride': ranged(TRAIN_RANGES.docStride, 'N', 'qa: tokens shared by consecutive windows (default 32)'),
    device: DEVICE_FLAG,
    precision: PRECISION_FLAG,
    'cuda-graphs': CUDA_GRAPHS_FLAG,
    name: { type: 'string', metavar: 'NAME', description: 'run name (default <task>-<attention>)' },
    tag: { type: 'string', repeatable: true, metavar: 'TAG', description: 'a tag for the run' },
    notes: { type: 'string', metavar: 'TEXT', description: 'notes for the run' },
    json: { type: 'boolean', description: 'print the final run row as JSON' },
  },
  async run(flags, ctx) {
    const cmd = 'train';
    if (flags.steps !== undefined && flags.epochs !== undefined) throw new UsageError('--steps and --epochs exclude each other', cmd);
    if (flags['init-from'] !== undefined && flags['from-checkpoint'] !== undefined)
      throw new UsageError('--init-from and --from-checkpoint exclude each other (a resumed run keeps the weights lineage of the run it resumes)', cmd);
    const device = deviceFlag(flags.device, cmd);
    const precision = precisionFlag(flags.precision, cmd);
    const graphs = cudaGraphsFlag(flags['cuda-graphs'], cmd);
    const lab = openLabAsHost(ctx, 'lshlab train');
    try {
      // Resuming a run: its spec is the base, and the flags given here override it.
      const from = flags['from-checkpoint'] !== undefined ? resolveCheckpoint(flags['from-checkpoint'], lab) : undefined;
      const base = from?.run ? specOfRun(from.run) : undefined;
      const task = flags.task ?? base?.task;
      const dataset = flags.dataset ?? base?.dataset;
      if (task === undefined) throw new UsageError('missing required flag --task', cmd);
      if (dataset === undefined) throw new UsageError('missing required flag --dataset', cmd);
      const init = flags['init-from'] !== undefined ? resolveInitSource(flags['init-from'], lab) : undefined;
      const spec = specFromFlags(flags, base, task as Task, dataset, init);
      // The same attention-parameter rules as the API (api/attention-params.ts): a bad value is a
      // usage error naming its flag, before any run row exists.
      const issue = checkAttentionParams(spec.attention, spec.attentionParams)[0];
      if (issue) {
        const flag = Object.entries(PARAM_FLAGS).find(([, name]) => name === issue.param)?.[0];
        const what = issue.param === '' ? '--attention' : flag !== undefined && (flags as Record<string, unknown>)[flag] !== undefined ? `--${flag}` : `--param ${issue.param}`;
        throw new UsageError(`invalid value for ${what}: ${issue.message}`, cmd);
      }
      if (from) spec.fromCheckpoint = from.path;
      if (device !== undefined) spec.device = device;
      if (precision !== undefined) spec.precision = precision;
      if (graphs !== undefined) spec.cudaGraphs = graphs;
      let row;
      try {
        row = await trainOne(ctx, lab, spec);
      } catch (e) {
        if (e instanceof SpecError) throw new UsageError(`invalid run: ${e.message}`, cmd);
        throw e;
      }
      if (flags.json) {
        ctx.out(JSON.stringify({ run: row, evaluations: lab.store.evaluations.list(row.id), database: lab.store.path }, null, 2));
      } else {
        ctx.out(describeEnd(row));
        for (const e of lab.store.evaluations.list(row.id).slice(-1))
          ctx.out(`evaluation (${e.split}, step ${e.step}): ` + Object.entries(e.metrics).map(([k, v]) => `${k} ${num(v, 4)}`).join(', '));
        const ckpt = lab.store.checkpoints.latest(row.id);
        if (ckpt) ctx.out(`checkpoint: ${ckpt.path}`);
        ctx.out(`database: ${lab.store.path}  (lshlab runs show ${row.id})`);
      }
      return row.status === 'finished' || row.status === 'cancelled' ? 0 : 1;
    } finally {
      lab.close();
    }
  },
});

type TrainFlags = Parameters<(typeof trainCommand)['run']>[0];

/** The run's spec: the defaults (or the resumed run's spec), then every flag given. */
function specFromFlags(flags: TrainFlags, base: RunSpec | undefined, task: Task, dataset: string, init?: InitSource): RunSpec {
  let model: ModelSpec = { ...(base?.model ?? DEFAULT_MODEL) };
  if (init) {
    // The source decides the dimensions, except those given as flags (kept, and checked by the engine).
    const given = new Set<keyof ModelSpec>();
    for (const [flag, field] of [['hidden', 'hiddenSize'], ['layers', 'numHiddenLayers'], ['heads', 'numAttentionHeads'], ['intermediate', 'intermediateSize'], ['max-seq-len', 'maxSeqLen']] as const)
      if (flags[flag] !== undefined) given.add(field);
    model = modelFromSource(init, model, given);
  }
  if (flags.hidden !== undefined) model.hiddenSize = flags.hidden;
  if (flags.layers !== undefined) model.numHiddenLayers = flags.layers;
  if (flags.heads !== undefined) model.numAttentionHeads = flags.heads;
  if (flags.intermediate !== undefined) model.intermediateSize = flags.intermediate;
  if (flags['max-seq-len'] !== undefined) model.maxSeqLen = flags['max-seq-len'];
  if (flags.dropout !== undefined) model.hiddenDropoutProb = model.attentionProbsDropoutProb = flags.dropout;
  const params = collectAttentionParams(flags as Record<string, unknown>, 'train');
  const { fromCheckpoint: _f, name: _n, tags: _t, notes: _no, ...inherited } = base ?? ({} as Partial<RunSpec>);
  const over: Partial<RunSpec> & Pick<RunSpec, 'task' | 'dataset'> = { ...inherited, task, dataset, model };
  if (init) over.initFrom = init.dir;
  if (flags.attention !== undefined) {
    over.attention = flags.attention;
    over.attentionParams = params;
  } else if (init && !base) {
    // Keep the source's variant unless --attention says otherwise (HF folders are exact attention).
    over.attention = typeof init.config['lshlab_attention'] === 'string' ? init.config['lshlab_attention'] : 'exact';
    const saved = (init.config['lshlab_attention_params'] ?? {}) as Record<string, string>;
    over.attentionParams = { ...Object.fromEntries(Object.entries(saved).map(([k, v]) => [k, /^-?\d+$/.test(v) ? Number(v) : v])), ...params };
  } else if (Object.keys(params).length > 0) over.attentionParams = { ...(base?.attentionParams ?? {}), ...params };
  if (flags.steps !== undefined) {
    over.steps = flags.steps;
    delete over.epochs;
  } else if (flags.epochs !== undefined) {
    over.epochs = flags.epochs;
    delete over.steps;
  } else if (over.steps === undefined && over.epochs === undefined) over.steps = 200;
  if (flags.batch !== undefined) over.batchSize = flags.batch;
  if (flags.lr !== undefined) over.lr = flags.lr;
  if (flags.warmup !== undefined) over.warmupSteps = flags.warmup;
  if (flags['weight-decay'] !== undefined) over.weightDecay = flags['weight-decay'];
  if (flags['max-grad-norm'] !== undefined) over.maxGradNorm = flags['max-grad-norm'];
  if (flags.seed !== undefined) over.seed = flags.seed;
  if (flags['eval-every'] !== undefined) over.evalEvery = flags['eval-every'];
  if (flags['eval-batches'] !== undefined) over.evalBatches = flags['eval-batches'];
  if (flags['save-every'] !== undefined) over.saveEvery = flags['save-every'];
  if (flags['doc-stride'] !== undefined) over.docStride = flags['doc-stride'];
  if (flags.name !== undefined) over.name = flags.name;
  if (flags.notes !== undefined) over.notes = flags.notes;
  if (flags.tag.length > 0) over.tags = flags.tag;
  return defaultSpec(over);
}

/**
 * The source of --init-from: a run (id, uuid prefix or name: its latest checkpoint) or a directory
 * (a checkpoint or a Hugging Face BERT folder). A value with a path separator, or naming an
 * existing directory and no run, is a directory.
 */
function resolveInitSource(ref: string, lab: { store: LabStore; dataDir: string }): InitSource {
  const run = /[/\\]/.test(ref) ? undefined : lab.store.runs.resolve(ref);
  if (run) return readInitSource(resolveCheckpoint(ref, lab).path);
  if (!/[/\\]/.test(ref) && !fs.existsSync(ref))
    throw new UsageError(`--init-from ${ref}: no run or directory of that name (a run: id, uuid prefix or name; a directory: a checkpoint or Hugging Face BERT folder)`, 'train');
  return readInitSource(path.resolve(ref));
}

/** A checkpoint directory, or the latest checkpoint of a run given by id, uuid prefix or name. */
function resolveCheckpoint(ref: string, lab: { store: LabStore; dataDir: string }): { path: string; run?: RunRow } {
  const run = /[/\\]/.test(ref) ? undefined : lab.store.runs.resolve(ref);
  if (!run) return { path: ref }; // a directory: checked by the training process, which names it on error
  const c = lab.store.checkpoints.latest(run.id) ?? listCheckpoints(runDirOf(lab.dataDir, run)).pop();
  if (!c) throw new Error(`run ${run.id} (${run.name}) has no checkpoint (looked in ${checkpointsDir(runDirOf(lab.dataDir, run))})`);
  return { path: c.path, run };
}
