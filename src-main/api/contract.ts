/**
 * contract.ts: the one API contract of the lab's UI. Every operation has a name ('runs.list'), a
 * zod schema of its payload (validated on the way in by the API implementation, and usable by the
 * renderer for client-side checks) and a result type (OpResults). Live events, topics, the error
 * type, the LabApi interface both shells implement (Electron IPC, serve mode's HTTP + WebSocket)
 * and the wire helpers of the HTTP transport are here too (the zod-free values in
 * contract-values.ts, re-exported).
 *
 * Imports nothing from Node: zod, and Node-free modules of this repository (training/spec.ts,
 * attention-params.ts, training-params.ts, type-only store/lab types). It does no work.
 *
 * Not in the contract this session: tokenizer training.
 */
import { z } from 'zod';
import { ATTENTION_VARIANTS } from './attention-params.js';
import { attentionParamsSchema, runNameSchema, runSpecSchema, tagSchema, taskSchema } from './run-spec-schema.js';
import { RUN_TEXT_LIMITS } from './training-params.js';
import type * as R from './contract-types.js';
import {
  ATTENTION_MAPS_MAX_CHARS, DATASET_PREVIEW_ROWS, RUN_SORT_FIELDS, RUN_STATUSES, RUNS_PAGE_MAX, SERIES_MAX_BUCKETS,
} from './contract-values.js';
import type { EventTopic, LabEvent } from './contract-types.js';

export * from './contract-types.js';
export * from './contract-values.js';
export { ATTENTION_PARAMS, ATTENTION_VARIANTS, checkAttentionParams, paramsOfVariant } from './attention-params.js';
export type { AttentionParamDef, AttentionVariant } from './attention-params.js';
export { MODEL_RANGES, TRAIN_RANGES, RUN_TEXT_LIMITS } from './training-params.js';
export { runSpecSchema, runSpecFields, specFromInput, type RunSpecInput } from './run-spec-schema.js';

// ---- shared pieces ------------------------------------------------------------------------------

/** A run reference: an id ("12"), a uuid or uuid prefix (6+ hex digits), or a name. */
const runRef = z.string().trim().min(1).max(200);
const datasetName = z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/, 'a dataset name is 1-64 of A-Z a-z 0-9 . _ - (not starting with ".")');
/** A client-chosen id for a long job, so that it can be cancelled (jobs.cancel, benchmarks.cancel)
 *  and its progress events recognised before the call returns. */
const jobId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a job id is 1-64 of A-Z a-z 0-9 _ -');
const uploadId = z.string().regex(/^[0-9a-f]{32}$/, 'an upload id is 32 hex digits');
const none = z.strictObject({});
/** As store/studies.ts STUDY_NAME_RE. */
const studyName = z.string().regex(/^[A-Za-z0-9._-]{1,48}$/, 'a study name is 1-48 of A-Z a-z 0-9 . _ -');
const int = (min: number, max: number) => z.number().int().min(min).max(max);

const importColumns = z.strictObject({
  text: z.string().min(1).max(256).optional(),
  textPair: z.string().min(1).max(256).optional(),
  label: z.string().min(1).max(256).optional(),
  id: z.string().min(1).max(256).optional(),
  question: z.string().min(1).max(256).optional(),
  context: z.string().min(1).max(256).optional(),
  answers: z.string().min(1).max(256).optional(),
  split: z.string().min(1).max(256).optional(),
});

/** benchmarks.run fields of the CPU modes that the CUDA scaling sweep has no use for. */
const CPU_ONLY_BENCH_FIELDS = ['variant', 'params', 'seq', 'iters', 'warmup', 'dotIters', 'timeIters', 'quality', 'seed', 'maxMemoryGb', 'angles', 'trials'] as const;

const benchRun = z.strictObject({
  mode: z.enum(['single', 'paper-table1', 'sweep', 'scaling', 'collisions']),
  variant: z.enum(ATTENTION_VARIANTS).optional(),
  params: attentionParamsSchema.optional(),
  seq: int(1, 1 << 20).optional(),
  batch: int(1, 4096).optional(),
  heads: int(1, 256).optional(),
  headDim: int(1, 4096).optional(),
  backward: z.boolean().optional(),
  iters: int(1, 1e8).optional(),
  warmup: int(0, 1e8).optional(),
  dotIters: int(1, 1e8).optional(),
  timeIters: int(1, 1e8).optional(),
  quality: z.boolean().optional(),
  seed: int(0, Number.MAX_SAFE_INTEGER).optional(),
  minSeq: int(1, 1 << 20).optional(),
  maxSeq: int(1, 1 << 20).optional(),
  variants: z.array(z.enum(ATTENTION_VARIANTS)).min(1).max(16).optional(),
  budgetS: int(1, 86400).optional(),
  maxMemoryGb: z.number().min(0).max(4096).optional(),
  angles: int(1, 1000).optional(),
  trials: int(1, 1e7).optional(),
  /** Keep the result in the lab database (benchmarks.list), as `--record`. */
  record: z.boolean().default(true),
  jobId: jobId.optional(),
  /** Where the scaling sweep runs: 'cpu' (default) or 'cuda' / 'cuda:N', the CUDA kernels' sweep
   *  (`bench attention --scaling --device cuda`, kind attention/scaling-cuda; n from minSeq 512
   *  doubling to maxSeq 262144 unless given). The other modes run on the CPU only. */
  device: z.string().regex(/^(cpu|cuda(:\d{1,3})?)$/, "device is 'cpu', 'cuda' or 'cuda:N'").optional(),
}).superRefine((b, ctx) => {
  const cuda = b.device !== undefined && b.device !== 'cpu';
  if ((b.minSeq ?? (cuda ? 512 : 128)) > (b.maxSeq ?? (cuda ? 262144 : 16384))) ctx.addIssue({ code: 'custom', path: ['minSeq'], message: 'minSeq must not exceed maxSeq' });
  if (!cuda) return;
  if (b.mode !== 'scaling') {
    ctx.addIssue({ code: 'custom', path: ['device'], message: `'${b.device}' runs only mode 'scaling' (the CUDA sweep); mode '${b.mode}' times the CPU variants: use device 'cpu' or leave it out` });
    return;
  }
  // What the CUDA sweep's driver does not take (it times forward and forward+backward always).
  for (const k of CPU_ONLY_BENCH_FIELDS)
    if (b[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `not taken by the CUDA sweep (device '${b.device}'): it takes variants, minSeq, maxSeq, batch, heads, headDim, budgetS` });
  if (b.minSeq !== undefined && b.minSeq < 8) ctx.addIssue({ code: 'custom', path: ['minSeq'], message: 'the CUDA sweep starts at n >= 8' });
  if (b.heads !== undefined && b.heads > 255) ctx.addIssue({ code: 'custom', path: ['heads'], message: 'the CUDA sweep takes at most 255 heads' });
  if (b.headDim !== undefined && b.headDim > 128) ctx.addIssue({ code: 'custom', path: ['headDim'], message: 'the CUDA kernels take head sizes up to 128' });
});

// ---- the operations -----------------------------------------------------------------------------

export const OPERATIONS = {
  'engine.info': none,
  /** Default spec and per-variant parameter ranges (the New-run form). */
  'defaults': none,

  'datasets.list': none,
  'datasets.show': z.strictObject({
    name: datasetName,
    /** Preview rows (0..100, default 10), from `offset` in dataset order, optionally one split. */
    rows: int(0, DATASET_PREVIEW_ROWS).default(10),
    offset: int(0, Number.MAX_SAFE_INTEGER).default(0),
    split: z.string().min(1).max(64).optional(),
    /** Compute statistics (reads the whole token cache once; cached per dataset checksum). */
    statistics: z.boolean().default(true),
  }),
  'datasets.import': z.strictObject({
    /** A file on the serving machine (serve mode: under an allowed root), or a finished upload. */
    source: z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('path'), path: z.string().min(1).max(4096) }),
      z.strictObject({ type: z.literal('upload'), uploadId }),
    ]),
    kind: z.enum(['text', 'classification', 'qa']),
    name: datasetName.optional(),
    format: z.enum(['auto', 'txt', 'jsonl', 'csv', 'tsv', 'parquet', 'squad']).default('auto'),
    columns: importColumns.optional(),
    labels: z.array(z.string().min(1).max(256)).min(1).max(100_000).optional(),
    textUnit: z.enum(['line', 'paragraph']).optional(),
    validationFraction: z.number().min(0).lt(1).optional(),
    seed: int(0, Number.MAX_SAFE_INTEGER).optional(),
    /** A lab tokenizer name (tokenizers.list); default builtin-wp8k. */
    tokenizer: z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/, 'a lab tokenizer name').optional(),
    jobId: jobId.optional(),
  }),
  'datasets.rm': z.strictObject({ name: datasetName }),
  'datasets.addBuiltin': z.strictObject({ jobId: jobId.optional() }),
  'tokenizers.list': none,

  'runs.list': z.strictObject({
    offset: int(0, Number.MAX_SAFE_INTEGER).default(0),
    limit: int(1, RUNS_PAGE_MAX).default(50),
    sort: z.strictObject({ field: z.enum(RUN_SORT_FIELDS), dir: z.enum(['asc', 'desc']) }).default({ field: 'createdAt', dir: 'desc' }),
    filter: z.strictObject({
      status: z.array(z.enum(RUN_STATUSES)).min(1).max(RUN_STATUSES.length).optional(),
      task: taskSchema.optional(),
      attention: z.string().min(1).max(64).optional(),
      tag: tagSchema.optional(),
      /** Case-insensitive substring of the name, notes, dataset, tags or uuid. */
      text: z.string().min(1).max(200).optional(),
    }).default({}),
  }),
  'runs.show': z.strictObject({ run: runRef }),
  'runs.tag': z.strictObject({ run: runRef, tags: z.array(tagSchema).min(1).max(32) }),
  'runs.untag': z.strictObject({ run: runRef, tags: z.array(tagSchema).min(1).max(32) }),
  'runs.note': z.strictObject({ run: runRef, notes: z.string().max(RUN_TEXT_LIMITS.notes) }),
  'runs.rename': z.strictObject({ run: runRef, name: runNameSchema }),
  /** Removes runs (rows, metrics, checkpoints); a running run only with `force`. */
  'runs.rm': z.strictObject({ runs: z.array(runRef).min(1).max(1000), force: z.boolean().default(false) }),
  /** csv: the full metric history (run_id, run_name, key, step, value, time); json: the export
   *  document of `lshlab runs export` (summaries, evaluations, checkpoints; `metrics` adds history). */
  'runs.export': z.strictObject({
    runs: z.array(runRef).min(1).max(100),
    format: z.enum(['csv', 'json']),
    metrics: z.boolean().default(true),
  }),
  /** Bucketed series (min/max/last per bucket) from the store, never whole histories. */
  'runs.series': z.strictObject({
    runs: z.array(runRef).min(1).max(32),
    keys: z.array(z.string().min(1).max(200)).min(1).max(32),
    buckets: int(1, SERIES_MAX_BUCKETS).default(500),
  }),
  'runs.compare': z.strictObject({ runs: z.array(runRef).min(1).max(32) }),
  'runs.start': z.strictObject({ spec: runSpecSchema }),
  /** Cancels after the current step (a checkpoint is kept). */
  'runs.cancel': z.strictObject({ run: runRef }),
  /** A new run continuing `run` from its latest checkpoint with its settings, to `steps` (or
   *  `epochs`) in total, as `lshlab train --from-checkpoint RUN --steps N`. */
  'runs.resume': z.strictObject({
    run: runRef,
    steps: int(1, 1 << 30).optional(),
    epochs: z.number().min(0.001).max(1e6).optional(),
    name: runNameSchema.optional(),
  }).refine((r) => r.steps === undefined || r.epochs === undefined, { path: ['epochs'], message: 'give steps or epochs, not both' }),

  'benchmarks.list': z.strictObject({ kind: z.string().min(1).max(100).optional(), limit: int(1, 10_000).default(200) }),
  /** `lshlab bench attention` in one of its modes, in a process of its own. Give a `jobId` to be
   *  able to cancel it (benchmarks.cancel); a cancelled one ends with status 'cancelled' and
   *  records nothing. */
  'benchmarks.run': benchRun,
  /** Stops the benchmark started with that jobId at once (its process is killed); its
   *  benchmarks.run call then returns status 'cancelled'. */
  'benchmarks.cancel': z.strictObject({ jobId }),

  /** Cancels an import, add-builtin or benchmark started with that jobId. */
  'jobs.cancel': z.strictObject({ jobId }),
  /** Cancels an upload in progress (serve mode), or discards a finished one not yet imported. */
  'uploads.cancel': z.strictObject({ uploadId }),

  /** The Attention explorer: per layer and head, the exact attention matrix of the run's latest
   *  checkpoint next to its variant's, for typed `text` (tokenized with the run's dataset
   *  tokenizer, at most ATTENTION_MAPS_MAX_TOKENS tokens with [CLS] and [SEP]) or record `index`
   *  of `dataset` (default the run's; cut to the limit). `layer`: one layer (default all). */
  'attention.maps': z.strictObject({
    run: runRef,
    text: z.string().trim().min(1).max(ATTENTION_MAPS_MAX_CHARS).optional(),
    dataset: datasetName.optional(),
    index: int(0, Number.MAX_SAFE_INTEGER).optional(),
    layer: int(0, 1023).optional(),
    /** The hash draws (Philox seed of the inference forward); default 0, as evaluation uses. */
    seed: int(0, 0xffffffff).optional(),
  })
    .refine((p) => (p.text === undefined) !== (p.index === undefined), { path: ['text'], message: 'give text or a record index, not both' })
    .refine((p) => p.dataset === undefined || p.index !== undefined, { path: ['index'], message: 'a dataset needs a record index' }),

  /** Studies (`lshlab study ...`), read-only: every study with how many of its cells are done. */
  'studies.list': none,
  /** A study's definition and where each cell (stage x variant x seed) stands, with its run. */
  'studies.show': z.strictObject({ name: studyName }),
  /** A study's report: per stage, per measure and variant mean, std, 95% CI, n and bold; plus the text exports. */
  'studies.report': z.strictObject({ name: studyName }),
} as const;

export type OpName = keyof typeof OPERATIONS;
export const OP_NAMES = Object.keys(OPERATIONS) as OpName[];
/** What a caller sends (defaults optional). */
export type OpInput<O extends OpName> = z.input<(typeof OPERATIONS)[O]>;
/** What the implementation receives after validation (defaults filled in, spec completed). */
export type OpPayload<O extends OpName> = z.output<(typeof OPERATIONS)[O]>;

export interface OpResults {
  'engine.info': R.EngineInfoResult;
  'defaults': R.DefaultsResult;
  'datasets.list': R.DatasetRow[];
  'datasets.show': R.DatasetShowResult;
  'datasets.import': R.DatasetImportResult;
  'datasets.rm': R.DatasetRemoveResult;
  'datasets.addBuiltin': R.AddBuiltinResult;
  'tokenizers.list': R.TokenizerSummary[];
  'runs.list': R.RunsListResult;
  'runs.show': R.RunShowResult;
  'runs.tag': R.RunRow;
  'runs.untag': R.RunRow;
  'runs.note': R.RunRow;
  'runs.rename': R.RunRow;
  'runs.rm': R.RunsRemoveResult;
  'runs.export': R.RunsExportResult;
  'runs.series': R.RunsSeriesResult;
  'runs.compare': R.RunsCompareResult;
  'runs.start': R.RunStartResult;
  'runs.cancel': R.RunCancelResult;
  'runs.resume': R.RunResumeResult;
  'benchmarks.list': R.BenchmarkListItem[];
  'benchmarks.run': R.BenchmarkRunResult;
  'benchmarks.cancel': R.CancelResult;
  'jobs.cancel': R.CancelResult;
  'uploads.cancel': R.CancelResult;
  'attention.maps': R.AttentionMapsResult;
  'studies.list': R.StudyListItem[];
  'studies.show': R.StudyShowResult;
  'studies.report': R.StudyReportResult;
}
export type OpResult<O extends OpName> = OpResults[O];

export function isOpName(s: string): s is OpName {
  return Object.prototype.hasOwnProperty.call(OPERATIONS, s);
}

// ---- errors -------------------------------------------------------------------------------------

/** bad-request 400, unauthorized 401, forbidden 403, not-found 404, conflict 409, too-large 413, internal 500. */
export type ApiErrorCode = 'bad-request' | 'unauthorized' | 'forbidden' | 'not-found' | 'conflict' | 'too-large' | 'internal';
export const HTTP_STATUS: Record<ApiErrorCode, number> = {
  'bad-request': 400, unauthorized: 401, forbidden: 403, 'not-found': 404, conflict: 409, 'too-large': 413, internal: 500,
};

/** An API failure with a code the UI can act on and a message a person can read (no stack). */
export class ApiError extends Error {
  constructor(readonly code: ApiErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/** zod issues as one message naming each field: "spec.attentionParams.bands: must be in 1..64, got 100". */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string {
  return issues
    .map((i) => {
      const at = [...prefix, ...i.path].map(String).join('.');
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${at ? at + '.' : ''}${k}: unknown field`).join('; ');
      return `${at || '(payload)'}: ${i.message}`;
    })
    .join('; ');
}

/** Validates a payload for `op`; throws ApiError('bad-request') naming the fields at fault. */
export function parsePayload<O extends OpName>(op: O, raw: unknown): OpPayload<O> {
  const r = OPERATIONS[op].safeParse(raw === undefined || raw === null ? {} : raw);
  if (!r.success) throw new ApiError('bad-request', `${op}: ${formatIssues(r.error.issues)}`);
  return r.data as OpPayload<O>;
}

// ---- the interface both shells implement ------------------------------------------------------------

export type EventListener = (event: LabEvent) => void;

export interface LabEvents {
  /** Delivers the topic's events to `listener` until unsubscribed; returns the unsubscribe. */
  subscribe(topic: EventTopic, listener: EventListener): () => void;
  unsubscribe(topic: EventTopic, listener: EventListener): void;
}

export interface LabApi {
  /** Validates `payload` against OPERATIONS[op] and runs it; rejects with ApiError. (The
   *  implementation accepts any value and validates it: transports pass what they received.) */
  call<O extends OpName>(op: O, payload?: OpInput<O>): Promise<OpResult<O>>;
  readonly events: LabEvents;
}

// ---- serve mode's wire format (its paths and JSON helpers: contract-values.ts) ----------------------------

export type ApiResponse<T> = { ok: true; result: T } | { ok: false; error: { code: ApiErrorCode; message: string } };

/** WebSocket, client -> server. */
export const clientSocketMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('subscribe'), topic: z.union([z.strictObject({ kind: z.literal('run'), runId: int(1, Number.MAX_SAFE_INTEGER) }), z.strictObject({ kind: z.enum(['runs', 'jobs']) })]) }),
  z.strictObject({ type: z.literal('unsubscribe'), topic: z.union([z.strictObject({ kind: z.literal('run'), runId: int(1, Number.MAX_SAFE_INTEGER) }), z.strictObject({ kind: z.enum(['runs', 'jobs']) })]) }),
]);
export type ClientSocketMessage = z.infer<typeof clientSocketMessage>;
/** WebSocket, server -> client. */
export type ServerSocketMessage =
  | { type: 'event'; topic: EventTopic; event: LabEvent }
  | { type: 'subscribed' | 'unsubscribed'; topic: EventTopic }
  | { type: 'error'; message: string };
