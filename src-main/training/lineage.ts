/**
 * lineage.ts: where a fine-tuned run's weights came from, as its row records it
 * (trainConfig.initFrom, written by the run host from training/init-from.ts) and as people read it
 * (`runs show`, the comparison's "Weights from" row). Node-free: the comparison (lab/compare.ts)
 * is also bundled for the renderer.
 */
import type { RunRow } from '../store/types.js';

/** Recorded in the run row as trainConfig.initFrom. */
export interface InitLineage {
  dir: string;
  kind: 'lshlab-run' | 'hf-folder';
  sourceRunId?: number;
  sourceRunName?: string;
  sourceStep?: number;
  /** The source's head: mlm, classification or qa (from lshlab_task or `architectures`). */
  sourceTask?: string;
  /** The source's attention variant; HF folders are exact softmax attention. */
  sourceAttention: string;
  /** Source tensors the run does not use (its task head, a pooler, variant parameters). */
  ignored: string[];
}

/** The lineage recorded in a run row, if any (trainConfig.initFrom). */
export function lineageOfRun(row: Pick<RunRow, 'trainConfig'>): InitLineage | undefined {
  const v = row.trainConfig['initFrom'];
  if (v && typeof v === 'object' && typeof (v as InitLineage).dir === 'string') return v as InitLineage;
  if (typeof v === 'string') return { dir: v, kind: 'hf-folder', sourceAttention: 'exact', ignored: [] };
  return undefined;
}

/**
 * "run 12 (mlm-exact) step 300", "lshlab checkpoint DIR (step 300)" or "Hugging Face folder DIR",
 * plus ", exact attention (this run: bert-lsh)" when the run changed the variant (`short`: without
 * the parenthesis, for tables whose column header names the run's variant already).
 */
export function describeLineage(l: InitLineage, ownAttention?: string, short = false): string {
  const what =
    l.sourceRunId !== undefined ? `run ${l.sourceRunId} (${l.sourceRunName ?? '?'})${l.sourceStep !== undefined ? ` step ${l.sourceStep}` : ''}`
    : l.kind === 'lshlab-run' ? `lshlab checkpoint ${l.dir}${l.sourceStep !== undefined ? ` (step ${l.sourceStep})` : ''}`
    : `Hugging Face folder ${l.dir}`;
  const changed = ownAttention !== undefined && ownAttention !== l.sourceAttention;
  const variant = !changed ? '' : short ? `, ${l.sourceAttention} attention` : `, ${l.sourceAttention} attention (this run: ${ownAttention})`;
  return what + variant;
}
