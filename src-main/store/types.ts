/**
 * types.ts: the contract of the run store (src-main/store/): the rows it keeps and the interface
 * every other module uses. Datasets (lab/datasets), the run host (training/) and the shells (cli/,
 * later server/ and electron/) code against `LabStore`; only store/ touches SQL. Nothing here does
 * any work.
 *
 * Conventions: times are milliseconds since the epoch (Date.now()); JSON-valued fields are parsed
 * objects here and TEXT in SQLite; NaN and +-Inf metric values round-trip (SQLite REAL cannot hold
 * NaN, so the store keeps a flag beside the value).
 */
import type { DatasetKind } from '../data/types.js';

export type RunStatus = 'queued' | 'running' | 'finished' | 'failed' | 'crashed' | 'diverged' | 'cancelled';
export const RUN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'finished', 'failed', 'crashed', 'diverged', 'cancelled'];
/** Statuses a run never leaves. */
export const FINAL_STATUSES: readonly RunStatus[] = ['finished', 'failed', 'crashed', 'diverged', 'cancelled'];

// ---- datasets ---------------------------------------------------------------------------------

export interface NewDataset {
  /** Unique, [A-Za-z0-9._-]{1,64}. */
  name: string;
  kind: DatasetKind;
  /** Where it came from: a file path, or "builtin:<what>". */
  source: string;
  /** Import format (txt, jsonl, csv, tsv, parquet, squad, builtin). */
  format: string;
  /** The dataset's directory (records, token caches), absolute. */
  dir: string;
  /** Name of the tokenizer its token cache was built with. */
  tokenizer: string;
  numRecords: number;
  numTokens: number;
  /** Records per split, e.g. {train: 900, validation: 100}. */
  splits: Record<string, number>;
  /** Classification: labels in id order; [] otherwise. */
  labelSet: string[];
  /** Free-form statistics (bytes, mean tokens per record, synthetic: true, ...). */
  stats: Record<string, unknown>;
  /** sha256 of the token cache body. */
  sha256: string;
  builtin: boolean;
}

export interface DatasetRow extends NewDataset {
  id: number;
  createdAt: number;
}

// ---- runs -------------------------------------------------------------------------------------

export interface NewRun {
  name: string;
  task: 'mlm' | 'classification' | 'qa';
  /** Dataset name as given (kept even if the dataset is later removed). */
  datasetName: string;
  /** The dataset's id, if it is in the store. */
  datasetId?: number | null;
  /** The engine's ModelConfig (camelCase) without the attention fields. */
  modelConfig: Record<string, unknown>;
  attention: string;
  attentionParams: Record<string, string | number>;
  /** Optimiser, schedule, batch, steps/epochs, eval/save cadence, ... */
  trainConfig: Record<string, unknown>;
  /** Decimal string (seeds may exceed 2^53). */
  seed: string;
  /** CSS colour for charts; the store picks one from a palette if absent. */
  color?: string;
  notes?: string;
  tags?: string[];
  status?: RunStatus; // default 'queued'
  /** 32 hex digits; random if absent (a host picks it first, to lock the run's directory before the row exists). */
  uuid?: string;
  /** 'cpu' (default) or 'cuda:N'. */
  device?: string;
  /** Engine threads of the run's process; null: the engine's default. */
  threads?: number | null;
  /** If `threads` is absent: split this many cores evenly with the runs now running on the same device. */
  shareCores?: number;
  /** Which process hosts it, for people: "lshlab train (pid 123 on box)". */
  owner?: string | null;
}

export interface RunRow {
  id: number;
  /** Random, 32 hex digits: stable across exports. */
  uuid: string;
  name: string;
  status: RunStatus;
  task: NewRun['task'];
  datasetName: string;
  datasetId: number | null;
  modelConfig: Record<string, unknown>;
  attention: string;
  attentionParams: Record<string, string | number>;
  trainConfig: Record<string, unknown>;
  seed: string;
  color: string;
  notes: string;
  tags: string[];
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** Why it failed / diverged / crashed, if it did. */
  error: string | null;
  /** Last step whose metrics were written. */
  lastStep: number;
  /** Environment row recorded at start, if any. */
  environmentId: number | null;
  /** pid of the training process while running. */
  pid: number | null;
  device: string;
  threads: number | null;
  owner: string | null;
  /** When someone asked to cancel it (from any process); the owning host stops it. */
  cancelRequestedAt: number | null;
}

export interface RunFilter {
  status?: RunStatus;
  tag?: string;
  attention?: string;
  /** Order of list(): default by id, newest first. Ties are broken by id, newest first, in either
   *  direction (what the UI's run list does), so a page is the same whichever way it was read. */
  order?: { by: 'id' | 'createdAt'; dir: 'asc' | 'desc' };
  /** Default no limit. */
  limit?: number;
  offset?: number;
}

export interface RunPatch {
  name?: string;
  color?: string;
  notes?: string;
  status?: RunStatus;
  startedAt?: number | null;
  endedAt?: number | null;
  error?: string | null;
  pid?: number | null;
  environmentId?: number | null;
  owner?: string | null;
}

// ---- metrics ----------------------------------------------------------------------------------

export interface MetricPoint {
  /** e.g. "train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "attn/dot_products". */
  key: string;
  step: number;
  value: number;
  /** ms since epoch; default Date.now() at append. */
  time?: number;
}

/** Per (run, key): kept up to date on every append so lists and comparisons never scan points. */
export interface MetricSummary {
  key: string;
  count: number;
  last: number;
  lastStep: number;
  min: number;
  minStep: number;
  max: number;
  maxStep: number;
}

/** One bucket of a downsampled series: steps [stepFrom, stepTo], min/max over it, last point's value. */
export interface SeriesBucket {
  stepFrom: number;
  stepTo: number;
  min: number;
  max: number;
  last: number;
  lastStep: number;
  count: number;
}

/** A best value of a run's metric and the first step that reached it. */
export interface BestValue {
  value: number;
  step: number;
}

/** What a run list shows and sorts on (store/run-bests.ts): from the summaries, never the points. */
export interface RunBests {
  runId: number;
  /** Last 'train/loss' (NaN kept), or null without one. */
  lastTrainLoss: number | null;
  /** Lowest finite 'train/loss'. */
  trainLoss: BestValue | null;
  /** The split the evaluation bests come from ('validation' when the run has it), or null. */
  evalSplit: string | null;
  /** Lowest evaluation 'loss', highest 'accuracy' and 'f1' (finite values only). */
  evalLoss: BestValue | null;
  evalAccuracy: BestValue | null;
  evalF1: BestValue | null;
}

export interface FullPoint {
  step: number;
  value: number;
  time: number;
}

// ---- evaluations, benchmarks, environments, checkpoints -----------------------------------------

export interface EvaluationRow {
  runId: number;
  step: number;
  split: string;
  /** e.g. {loss, accuracy, perplexity, f1, exact_match}. */
  metrics: Record<string, number>;
  time: number;
}

export interface BenchmarkRow {
  id: number;
  runId: number | null;
  /** e.g. "attention/paper-table1", "train". */
  kind: string;
  config: Record<string, unknown>;
  result: Record<string, unknown>;
  environmentId: number | null;
  createdAt: number;
}

export interface CheckpointRow {
  runId: number;
  step: number;
  path: string;
  bytes: number;
  createdAt: number;
}

// ---- the store --------------------------------------------------------------------------------

export interface LabStore {
  /** Absolute path of the database file. */
  readonly path: string;
  /** Current schema version (PRAGMA user_version). */
  schemaVersion(): number;
  /** PRAGMA integrity_check's answer ("ok" when healthy). */
  integrityCheck(): string;
  close(): void;

  datasets: {
    insert(d: NewDataset): DatasetRow;
    get(name: string): DatasetRow | undefined;
    list(): DatasetRow[];
    /** True if a row was removed. Runs keep their datasetName; their datasetId becomes null. */
    remove(name: string): boolean;
  };

  runs: {
    create(r: NewRun): RunRow;
    get(id: number): RunRow | undefined;
    /** By id ("12"), uuid or uuid prefix (>= 6 hex digits), or exact name (newest wins). */
    resolve(ref: string): RunRow | undefined;
    list(filter?: RunFilter): RunRow[];
    count(filter?: RunFilter): number;
    update(id: number, patch: RunPatch): RunRow;
    addTags(id: number, tags: string[]): void;
    removeTags(id: number, tags: string[]): void;
    /** Deletes the run and everything recorded for it (metrics, evaluations, checkpoints rows). */
    remove(id: number): boolean;
    /** Runs whose status is 'running' or 'queued', oldest first. */
    active(): RunRow[];
    /** Marks an active run crashed (error = reason); undefined if it was no longer active. Only
     *  for a run whose owner is known dead (training/run-owner.ts). */
    markCrashed(id: number, reason: string): RunRow | undefined;
    /** Records a cancel request for an active run (a no-op for a finished one); the owning host,
     *  in whichever process, stops it after its current step. Throws RangeError if there is no such run. */
    requestCancel(id: number): RunRow;
    /** Those of `ids` with a cancel request recorded. */
    cancelRequested(ids: readonly number[]): number[];
  };

  metrics: {
    /** Appends points in one transaction, updates summaries and runs.lastStep. */
    append(runId: number, points: readonly MetricPoint[]): void;
    keys(runId: number): string[];
    summaries(runId: number): MetricSummary[];
    /** At most `buckets` buckets over the step range, computed in SQL. */
    series(runId: number, key: string, buckets: number): SeriesBucket[];
    /** Every point, in step order (export). */
    history(runId: number, key: string): FullPoint[];
  };

  evaluations: {
    /** Records an evaluation (replacing one at the same step and split) and updates the split's best values. */
    add(runId: number, step: number, split: string, metrics: Record<string, number>): void;
    list(runId: number): EvaluationRow[];
  };

  /** Best and last values per run for run lists, one query for any number of runs. */
  runBests: {
    all(): Map<number, RunBests>;
    /** Runs of `ids` that exist. */
    of(ids: readonly number[]): Map<number, RunBests>;
  };

  benchmarks: {
    add(b: Omit<BenchmarkRow, 'id' | 'createdAt'>): BenchmarkRow;
    list(filter?: { runId?: number; kind?: string }): BenchmarkRow[];
  };

  environments: {
    /** Stores an environment description once (deduplicated by content); returns its id. */
    record(env: Record<string, unknown>): number;
    get(id: number): Record<string, unknown> | undefined;
  };

  checkpoints: {
    add(c: Omit<CheckpointRow, 'createdAt'>): void;
    list(runId: number): CheckpointRow[];
    latest(runId: number): CheckpointRow | undefined;
  };

  studies: {
    /** Records a study; throws RangeError if the name is taken. */
    create(name: string, definition: Record<string, unknown>): StudyRow;
    get(name: string): StudyRow | undefined;
    /** Oldest first. */
    list(): StudyRow[];
    /** Removes the study and its cell rows (the runs stay); true if it existed. */
    remove(name: string): boolean;
    /** The study's cells that were ever claimed, with their run's status, in (stage, variant, seed) order. */
    cells(studyId: number): StudyCellRow[];
    /**
     * Reads cell `key` (a fresh row with attempts 0 if it has none) and applies what `decide`
     * returns, both in one IMMEDIATE transaction, so two processes deciding on the same cell
     * see each other's writes. `decide` must be synchronous and must not touch other stores.
     */
    claim<T>(studyId: number, key: StudyCellKey, decide: (cell: StudyCellRow) => { patch?: StudyCellPatch; result: T }): T;
    /** Sets the cell's run (the run the claim started). */
    link(studyId: number, key: StudyCellKey, runId: number): StudyCellRow;
  };
}

// ---- studies (v6) -------------------------------------------------------------------------------

export interface StudyRow {
  id: number;
  /** Unique, [A-Za-z0-9._-]{1,48}. */
  name: string;
  /** The normalized study definition (lab/study-def.ts). */
  definition: Record<string, unknown>;
  createdAt: number;
}

/** One cell of a study's grid: stage index, variant key, seed (decimal string). */
export interface StudyCellKey {
  stage: number;
  variant: string;
  seed: string;
}

export interface StudyCellRow extends StudyCellKey {
  studyId: number;
  /** The cell's current run, null before its first start (or if that run was removed). */
  runId: number | null;
  /** Starts that count against the retry limit. */
  attempts: number;
  updatedAt: number;
  /** Status and error of runId's run (null when there is none). */
  runStatus: RunStatus | null;
  runError: string | null;
}

export interface StudyCellPatch {
  attempts?: number;
  runId?: number | null;
}

/** Why the store refused to open: the message names the file and what is wrong. */
export class StoreError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly code: 'not-sqlite' | 'foreign' | 'newer-schema' | 'in-use' | 'corrupt' | 'io',
  ) {
    super(`${file}: ${problem}`);
    this.name = 'StoreError';
  }
}
