/**
 * contract-types.ts: the result types of the API's operations and the live events, as both shells
 * (Electron IPC, serve mode's HTTP + WebSocket) deliver them. contract.ts re-exports everything
 * here; import from there. Type-only imports from the store's and lab's Node-free type modules.
 *
 * Numbers: NaN and +-Infinity are real values here (a diverged loss). Electron's structured
 * clone keeps them; over HTTP/WebSocket they travel as NON_FINITE sentinel strings (contract.ts:
 * encodeJson / decodeJson), so the client gets numbers back.
 */
import type { DatasetKind, DatasetRecord } from '../data/types.js';
import type { Comparison } from '../lab/compare.js';
import type { EvalScoreMetric, RunBestMetrics } from '../lab/run-bests.js';
import type {
  BenchmarkRow, BestValue, CheckpointRow, DatasetRow, EvaluationRow, MetricSummary, RunRow, RunStatus, SeriesBucket,
} from '../store/types.js';
import type { RunSpec } from '../training/spec.js';
import type { AttentionParamDef } from './attention-params.js';
import type { SettingRange } from './training-params.js';

export type { BenchmarkRow, BestValue, CheckpointRow, Comparison, DatasetKind, DatasetRecord, DatasetRow, EvaluationRow, MetricSummary, RunRow, RunSpec, RunStatus, SeriesBucket, EvalScoreMetric, RunBestMetrics };

// ---- engine / defaults ----------------------------------------------------------------------------

/** `lshlab info --json`, camelCase. */
export interface EngineInfoResult {
  lshlab: string;
  node: string;
  napi: string | null;
  engine: string;
  platform: string;
  cpu: { model: string; logicalCores: number; avx2: boolean; fma: boolean; avx512f: boolean };
  threads: number;
  gemmKernel: string;
  /** `available` and `reason` as the engine's CUDA loader says (reason '' when available). */
  cuda: { compiled: boolean; available: boolean; reason: string; devices: Array<Record<string, unknown>>; message: string };
  attentionVariants: string[];
  dataDir: string;
}

export interface DefaultsResult {
  /** The spec `lshlab train --task mlm --dataset builtin-text` would run. */
  spec: RunSpec;
  tasks: Array<{ task: RunSpec['task']; datasetKind: DatasetKind }>;
  variants: Array<{ name: string; params: AttentionParamDef[] }>;
  modelRanges: Record<keyof RunSpec['model'], SettingRange>;
  trainRanges: Record<string, SettingRange>;
}

// ---- datasets --------------------------------------------------------------------------------------

export interface TokenPiece {
  id: number;
  token: string;
  /** [start, end) in UTF-16 code units of the segment's text. */
  start: number;
  end: number;
}

export interface PreviewSegment {
  field: 'text' | 'textPair' | 'question' | 'context';
  /** The segment's first tokens (at most DATASET_PREVIEW_TOKENS). */
  tokens: TokenPiece[];
  /** Tokens of the whole segment. */
  numTokens: number;
}

export interface DatasetPreviewRow {
  /** Position in the dataset. */
  index: number;
  split: string;
  /** The record, its long texts cut to DATASET_PREVIEW_CHARS characters (`cut` says so). */
  record: DatasetRecord;
  cut: boolean;
  segments: PreviewSegment[];
}

export interface Histogram {
  /** Bin edges, ascending; counts[i] counts values in [edges[i], edges[i+1]) (the last bin is closed). */
  edges: number[];
  counts: number[];
}

export interface DatasetStatistics {
  records: number;
  tokens: number;
  /** Tokens per record (all segments, without [CLS]/[SEP]). */
  tokensPerRecord: { min: number; max: number; mean: number; p50: number; p90: number; p99: number };
  lengthHistogram: Histogram;
  /** Records longer than the default sequence length (they are truncated or windowed in training). */
  overDefaultSeqLen: { maxSeqLen: number; records: number };
  splits: Record<string, number>;
  /** Classification: count per label, overall and per split. */
  labelBalance: Array<{ label: string; count: number; bySplit: Record<string, number> }> | null;
  /** QA: where answers start, as a fraction of the context's tokens, and in tokens. */
  qaAnswerPositions: { relative: Histogram; tokenStart: Histogram; answers: number; impossible: number } | null;
}

export interface DatasetShowResult {
  row: DatasetRow;
  files: Array<{ name: string; bytes: number }>;
  /** What is wrong, if anything (missing directory, checksum differs). */
  problems: string[];
  tokenizer: { name: string; vocabSize: number } | null;
  preview: DatasetPreviewRow[];
  /** null when the token cache cannot be read (problems says why). */
  statistics: DatasetStatistics | null;
}

export interface DatasetImportResult {
  dataset: DatasetRow;
  /** Non-fatal notes of the import ("line 1: byte-order mark stripped"). */
  notes: string[];
}

export interface DatasetRemoveResult {
  name: string;
  rowRemoved: boolean;
  dirRemoved: string | null;
}

export interface AddBuiltinResult {
  created: string[];
  existing: string[];
  tokenizer: { name: string; created: boolean };
  seconds: number;
}

export interface TokenizerSummary {
  name: string;
  vocabSize: number;
  trainedOn: string;
  minFrequency: number;
  createdAt: number;
  sha256: string;
}

// ---- runs -----------------------------------------------------------------------------------------

export interface RunListItem {
  run: RunRow;
  /** Last 'train/loss', or null. */
  lastTrainLoss: number | null;
  /** Seconds from start to end (to now while running); null if it never started. */
  durationS: number | null;
  /** Lowest training loss, lowest evaluation loss, highest accuracy (mlm, classification) or F1
   *  (qa) of the evaluations, each with the first step that reached it (lab/run-bests.ts). */
  best: RunBestMetrics;
}

export interface RunsListResult {
  /** Runs matching the filter (all pages). */
  total: number;
  offset: number;
  items: RunListItem[];
}

export interface RunShowResult {
  run: RunRow;
  /** The spec it was started with (for "run again" and resume forms). */
  spec: RunSpec;
  durationS: number | null;
  summaries: MetricSummary[];
  evaluations: EvaluationRow[];
  checkpoints: CheckpointRow[];
  environment: Record<string, unknown> | null;
  /** A checkpoint exists: runs.resume can continue it. */
  resumable: boolean;
  /** A run resumed from a checkpoint (runs.resume, `train --from-checkpoint`): the run that saved
   *  it (null when it is not in this lab) and the step training continued from; null for a run
   *  trained from step 0. */
  resumedFrom: { runId: number | null; runName: string | null; step: number | null; checkpoint: string } | null;
}

export interface RunsSeriesResult {
  series: Array<{ runId: number; key: string; buckets: SeriesBucket[] }>;
}

export interface ConfigDiffRow {
  /** Dotted path into the run's settings: 'attention', 'attentionParams.bands', 'model.hiddenSize', 'lr'. */
  field: string;
  /** One per run, in the order asked; null where the run lacks the field. */
  values: Array<string | number | boolean | null>;
}

export interface RunsCompareResult {
  comparison: Comparison;
  /** The table as `lshlab runs compare --format ...` prints it. */
  rendered: { text: string; markdown: string; latex: string; csv: string };
  /** Settings that differ between the runs (identical ones are left out). */
  configDiff: ConfigDiffRow[];
}

export interface RunsExportResult {
  /** A suggested file name, e.g. "lshlab-runs-3.csv". */
  filename: string;
  contentType: 'text/csv' | 'application/json';
  content: string;
}

export interface RunsRemoveResult {
  removed: Array<{ id: number; name: string; dirRemoved: string | null }>;
}

export interface RunStartResult {
  run: RunRow;
}

export interface RunResumeResult {
  run: RunRow;
  from: { runId: number; step: number; checkpoint: string };
}

export interface RunCancelResult {
  run: RunRow;
  /** 'local': this process hosts it and told it to stop; 'requested': recorded for its host;
   *  'not-active': it had already ended (nothing done). */
  how: 'local' | 'requested' | 'not-active';
}

// ---- benchmarks, jobs, uploads ----------------------------------------------------------------------

export interface BenchmarkListItem extends BenchmarkRow {
  environment: Record<string, unknown> | null;
}

/** A benchmark that ran to the end ('done'), or was cancelled (benchmarks.cancel, or the API
 *  shutting down): then it has no result and nothing was recorded. */
export type BenchmarkRunResult =
  | {
      status: 'done';
      /** The engine's result object (snake_case keys, as `bench attention --json`). */
      result: Record<string, unknown>;
      /** The stored benchmark, when `record` was true. */
      benchmark: BenchmarkRow | null;
      seconds: number;
    }
  | { status: 'cancelled'; result: null; benchmark: null; seconds: number };

export interface CancelResult {
  /** False when nothing with that id was running (already ended, or never existed). */
  cancelled: boolean;
}

/** POST /api/upload's result (serve mode). */
export interface UploadResult {
  uploadId: string;
  name: string;
  bytes: number;
}

// ---- live events ----------------------------------------------------------------------------------

/** What a subscriber listens to: one run (steps, evals, status, end), every run's lifecycle
 *  (created, status, end: for lists), or long jobs (imports, benchmarks, uploads). */
export type EventTopic = { kind: 'run'; runId: number } | { kind: 'runs' } | { kind: 'jobs' };

export interface RunStepEvent {
  type: 'run.step';
  runId: number;
  step: number;
  /** null when the event comes from polling the store (a run hosted by another process). */
  totalSteps: number | null;
  epoch: number | null;
  loss: number;
  lr: number | null;
  gradNorm: number | null;
  tokensPerS: number | null;
  samplesPerS: number | null;
  /** Attention dot-product density of the step, for LSH variants. */
  density: number | null;
  /** Steps folded into this event since the previous one (events are throttled to ~10/s per run). */
  steps: number;
}

export type LabEvent =
  | { type: 'run.created'; run: RunRow }
  | { type: 'run.status'; runId: number; status: RunStatus; text: string | null }
  | RunStepEvent
  | { type: 'run.eval'; runId: number; step: number; split: string; metrics: Record<string, number> }
  | { type: 'run.checkpoint'; runId: number; step: number; path: string; bytes: number }
  | { type: 'run.end'; runId: number; status: RunStatus; error: string | null; lastStep: number }
  | {
      type: 'job.progress';
      jobId: string;
      job: 'import' | 'add-builtin';
      dataset: string;
      phase: 'read' | 'generate' | 'train-tokenizer' | 'tokenize' | 'write';
      done: number;
      total: number;
      unit: 'bytes' | 'records' | 'steps';
    }
  | { type: 'benchmark.progress'; jobId: string; line: string }
  | { type: 'upload.progress'; uploadId: string; name: string; bytes: number; total: number | null }
  | { type: 'upload.end'; uploadId: string; name: string; status: 'done' | 'cancelled' | 'failed'; bytes: number; error: string | null };

/** Which topics an event is delivered to. */
export function topicsOf(e: LabEvent): EventTopic[] {
  switch (e.type) {
    case 'run.created':
      return [{ kind: 'runs' }, { kind: 'run', runId: e.run.id }];
    case 'run.status':
    case 'run.end':
      return [{ kind: 'runs' }, { kind: 'run', runId: e.runId }];
    case 'run.step':
    case 'run.eval':
    case 'run.checkpoint':
      return [{ kind: 'run', runId: e.runId }];
    default:
      return [{ kind: 'jobs' }];
  }
}

/** A stable key of a topic ('run:12', 'runs', 'jobs'). */
export function topicKey(t: EventTopic): string {
  return t.kind === 'run' ? `run:${t.runId}` : t.kind;
}

// ---- attention.maps (the Attention explorer) ------------------------------------------------------

/** One head of one layer: two (T,T) matrices, row-major (row = query, column = key). */
export interface AttentionHeadMap {
  head: number;
  /** Dense softmax attention from this layer's Q and K (reformer: its full shared-QK attention). */
  exact: number[];
  /** The variant's effective weights as its forward computed them: weights x V = its output.
   *  Softmax variants' rows sum to 1; yoso's are its kernel (or collision counts) / |X_i|. */
  variant: number[];
  /** 1 where the variant computed the pair (bert-lsh: collided; yoso: collided at least once;
   *  reformer: attended in some round; exact and yoso-e: every pair), else 0. */
  computed: number[];
  /** |output - exact output|_F / |exact output|_F over the tokens. */
  outputRelError: number;
  /** Total-variation distance between each row of `exact` and of |variant| normalised to sum 1. */
  meanTv: number;
  maxTv: number;
  /** max |variant x V - output| / max |output|: the replay check (about 1e-7 when honest). */
  replayError: number;
  /** Computed pairs / pairs (from the replay). */
  support: number;
  /** The variant's own counters for this call: dot products / pairs, collisions / pairs. */
  density: number;
  collisions: number;
}

export interface AttentionMapsResult {
  run: { id: number; name: string; task: string; attention: string; attentionParams: Record<string, string>; datasetName: string };
  checkpoint: { step: number };
  /** What was mapped: typed text, or a record of a dataset (cut to the limit when longer). */
  source: { kind: 'text' } | { kind: 'record'; dataset: string; index: number; split: string };
  /** The model's input, [CLS] and [SEP] included; token strings from the dataset's tokenizer. */
  tokens: { id: number; token: string; type: number }[];
  truncated: boolean;
  numLayers: number;
  numHeads: number;
  layers: { layer: number; heads: AttentionHeadMap[] }[];
}

// ---- studies (lab/study-*.ts; read-only) ------------------------------------------------------

/** Where a study's cells stand (lab/study-state.ts): pending counts pending and retry cells. */
export interface StudyCounts {
  total: number;
  done: number;
  running: number;
  failed: number;
  blocked: number;
  pending: number;
}

export interface StudyStageInfo {
  /** 1-based, as `lshlab study show` numbers them. */
  stage: number;
  name: string;
  task: 'mlm' | 'classification' | 'qa';
  dataset: string;
  init: 'previous' | 'none';
}

export interface StudyVariantInfo {
  key: string;
  attention: string;
  params: Record<string, string | number>;
}

export interface StudyListItem {
  name: string;
  description: string;
  createdAt: number;
  stages: StudyStageInfo[];
  variants: StudyVariantInfo[];
  seeds: string[];
  counts: StudyCounts;
}

export type StudyCellState = 'done' | 'running' | 'pending' | 'retry' | 'failed' | 'blocked';

export interface StudyCellInfo {
  /** 1-based stage number. */
  stage: number;
  stageName: string;
  variant: string;
  seed: string;
  state: StudyCellState;
  runId: number | null;
  attempts: number;
  /** Why it failed or is blocked, or what happened to its last attempt. */
  reason: string | null;
}

export interface StudyShowResult extends StudyListItem {
  /** The normalized definition (`lshlab study show --json`'s definition: save it and run it). */
  definition: Record<string, unknown>;
  cells: StudyCellInfo[];
}

/** One cell of a report table: the statistics of one measure over one variant's done seeds. */
export interface StudyReportCell {
  variant: string;
  n: number;
  nonFinite: number;
  mean: number | null;
  std: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  values: number[];
  /** Best mean whose 95% interval overlaps no other variant's. */
  bold: boolean;
  /** mean, std and interval bounds as the text report prints them (the row's precision). */
  formatted: { mean: string | null; std: string | null; ciLow: string | null; ciHigh: string | null };
}

export interface StudyReportRow {
  key: string;
  label: string;
  better: 'lower' | 'higher';
  efficiency: boolean;
  cells: StudyReportCell[];
}

export interface StudyReportTable {
  /** 1-based stage number. */
  stage: number;
  name: string;
  task: 'mlm' | 'classification' | 'qa';
  dataset: string;
  title: string;
  variants: Array<StudyVariantInfo & { seeds: string[]; runIds: number[] }>;
  rows: StudyReportRow[];
  footnotes: string[];
}

export interface StudyReportResult {
  study: string;
  seeds: string[];
  counts: StudyCounts;
  tables: StudyReportTable[];
  /** What bold means, as the rendered reports say it. */
  boldRule: string;
  /** The report as `lshlab study report --format ...` prints it. */
  rendered: { text: string; markdown: string; latex: string; csv: string };
}
