/**
 * run-spec-schema.ts: the zod schema of a training spec as the UI sends it (runs.start), and its
 * conversion to the RunSpec the run host takes. The rules are the CLI's: per-field ranges from
 * training-params.ts (the same table `lshlab train`'s flags use), attention parameters from
 * attention-params.ts (the table behind --bands, --tau, ...), then training/spec.ts validateSpec
 * for the cross-field rules; every failure becomes a zod issue whose path names the field
 * (`model.hiddenSize`, `attentionParams.bands`).
 *
 * Node-free (the renderer may run these checks in the New-run form). It does not resolve
 * datasets or checkpoints: the API implementation does, with the store.
 */
import { z } from 'zod';
import { defaultSpec, SpecError, validateSpec, type RunSpec } from '../training/spec.js';
import { DEVICE_REQUEST_HELP, DEVICE_REQUEST_RE, PRECISIONS } from '../training/device.js';
import { ATTENTION_VARIANTS, checkAttentionParams } from './attention-params.js';
import { MODEL_RANGES, RUN_TEXT_LIMITS, TRAIN_RANGES, type SettingRange } from './training-params.js';

/** A number field bounded by a SettingRange (integers when the range says so). */
export function rangeNumber(r: SettingRange): z.ZodNumber {
  const base = r.type === 'int' ? z.number().int() : z.number();
  return base.min(r.min).max(r.max);
}

export const TASKS = ['mlm', 'classification', 'qa'] as const;
export const taskSchema = z.enum(TASKS);

/** A tag as lab/runs.ts accepts it: 1..64 characters, no spaces or commas. */
export const tagSchema = z.string().regex(/^[^\s,]{1,64}$/, 'a tag is 1..64 characters without spaces or commas');

/** Run names as lab/runs.ts renameRun accepts them. */
export const runNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(RUN_TEXT_LIMITS.name)
  .refine((s) => !/^\d+$/.test(s), 'a run name must not be all digits (it would read as a run id)')
  .refine((s) => !/[\r\n]/.test(s), 'a run name must be one line');

/** Attention parameters by engine name; values as the engine reads them (strings or numbers). */
export const attentionParamsSchema = z.record(z.string().min(1).max(64), z.union([z.string().max(64), z.number()]));

const modelInput = z.strictObject({
  hiddenSize: rangeNumber(MODEL_RANGES.hiddenSize).optional(),
  numHiddenLayers: rangeNumber(MODEL_RANGES.numHiddenLayers).optional(),
  numAttentionHeads: rangeNumber(MODEL_RANGES.numAttentionHeads).optional(),
  intermediateSize: rangeNumber(MODEL_RANGES.intermediateSize).optional(),
  maxSeqLen: rangeNumber(MODEL_RANGES.maxSeqLen).optional(),
  hiddenDropoutProb: rangeNumber(MODEL_RANGES.hiddenDropoutProb).optional(),
  attentionProbsDropoutProb: rangeNumber(MODEL_RANGES.attentionProbsDropoutProb).optional(),
});

const T = TRAIN_RANGES;
/** The fields of a run-start spec; everything but task and dataset has the CLI's default. */
export const runSpecFields = z.strictObject({
  name: runNameSchema.optional(),
  task: taskSchema,
  /** A dataset of datasets.list, or 'synthetic:random'. */
  dataset: z.string().min(1).max(200),
  attention: z.enum(ATTENTION_VARIANTS).optional(),
  attentionParams: attentionParamsSchema.optional(),
  model: modelInput.optional(),
  steps: rangeNumber(T.steps).optional(),
  epochs: rangeNumber(T.epochs).optional(),
  batchSize: rangeNumber(T.batchSize).optional(),
  lr: rangeNumber(T.lr).optional(),
  warmupSteps: rangeNumber(T.warmupSteps).optional(),
  weightDecay: rangeNumber(T.weightDecay).optional(),
  maxGradNorm: rangeNumber(T.maxGradNorm).optional(),
  /** Decimal string in [0, 2^64). */
  seed: z.string().regex(/^\d{1,20}$/, 'a seed is a decimal integer in [0, 2^64)').optional(),
  evalEvery: rangeNumber(T.evalEvery).optional(),
  evalBatches: rangeNumber(T.evalBatches).optional(),
  saveEvery: rangeNumber(T.saveEvery).optional(),
  mlmProb: rangeNumber(T.mlmProb).optional(),
  docStride: rangeNumber(T.docStride).optional(),
  tags: z.array(tagSchema).max(32).optional(),
  notes: z.string().max(RUN_TEXT_LIMITS.notes).optional(),
  /** auto (default), cpu, cuda or cuda:N (training/device.ts resolves it). */
  device: z.string().regex(DEVICE_REQUEST_RE, `a device is ${DEVICE_REQUEST_HELP}`).optional(),
  /** GEMM precision: fp32 (default), tf32 or bf16 (CUDA only, checked against the device at start). */
  precision: z.enum(PRECISIONS).optional(),
  /** CUDA: replay steps as CUDA graphs where they can (default true). */
  cudaGraphs: z.boolean().optional(),
});
export type RunSpecInput = z.input<typeof runSpecFields>;

/** The RunSpec of a parsed input: the CLI's defaults (training/spec.ts defaultSpec; 200 steps when
 *  neither steps nor epochs is given, as `lshlab train`), then the fields given. */
export function specFromInput(v: z.output<typeof runSpecFields>): RunSpec {
  const { model, ...rest } = v;
  const over = { task: v.task, dataset: v.dataset } as Partial<RunSpec> & Pick<RunSpec, 'task' | 'dataset'>;
  for (const [k, val] of Object.entries(rest)) if (val !== undefined) (over as Record<string, unknown>)[k] = val;
  if (over.steps === undefined && over.epochs === undefined) over.steps = 200;
  if (model) {
    const m: Partial<RunSpec['model']> = {};
    for (const [k, val] of Object.entries(model)) if (val !== undefined) (m as Record<string, unknown>)[k] = val;
    over.model = m as RunSpec['model'];
  }
  return defaultSpec(over);
}

/** Every rule of a whole spec the field schemas cannot express, as zod issues naming the field. */
function checkWholeSpec(v: z.output<typeof runSpecFields>, ctx: z.RefinementCtx): void {
  if (v.steps !== undefined && v.epochs !== undefined)
    ctx.addIssue({ code: 'custom', path: ['epochs'], message: 'give steps or epochs, not both' });
  for (const issue of checkAttentionParams(v.attention ?? 'exact', v.attentionParams ?? {}))
    ctx.addIssue({ code: 'custom', path: issue.param ? ['attentionParams', issue.param] : ['attention'], message: issue.message });
  try {
    validateSpec(specFromInput(v));
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    ctx.addIssue({ code: 'custom', path: e.field.split('.'), message: e.message.slice(e.field.length + 2) });
  }
}

/** The run-start spec: parses to a complete, validated RunSpec. */
export const runSpecSchema = runSpecFields.superRefine(checkWholeSpec).transform(specFromInput);
