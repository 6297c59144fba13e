/**
 * attention-maps.ts: the attention.maps operation (the Attention explorer). Resolves the run, its
 * latest checkpoint (store.checkpoints.latest) and its dataset's tokenizer; builds the model input
 * from typed text ([CLS] text [SEP]) or from a dataset record laid out as its task trains on it
 * (classification: [CLS] text [SEP] pair [SEP]; QA: [CLS] question [SEP] context [SEP]; token
 * types 0 / 1), and calls the engine's attentionMaps (native/engine/attention/maps.h: inference
 * forward, exact vs the variant's effective matrix replayed from the same hash draws, errors).
 *
 * Typed text longer than the limit is refused (the user can shorten it); a record is cut to the
 * limit and says so (`truncated`). Matrices go out as plain number arrays rounded to 6 significant
 * digits (about half the JSON of full float64 text, far below what a heatmap can show).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DatasetRecord, WordPieceTokenizer } from '../data/types.js';
import { readRecordsJsonl, RECORDS_FILE } from '../lab/dataset-files.js';
import { resolveRun } from '../lab/runs.js';
import type { RunRow } from '../store/types.js';
import { ApiError, ATTENTION_MAPS_MAX_TOKENS, type AttentionMapsResult, type OpPayload } from './contract.js';
import type { ApiContext } from './context.js';
import { datasetTokenizer } from './dataset-preview.js';
import type { Handlers } from './handler.js';

interface ModelInput {
  ids: number[];
  types: number[];
  truncated: boolean;
}

/** [CLS] a [SEP] (b [SEP]) cut to `limit` tokens, cutting the longer segment first. */
function layout(a: readonly number[], b: readonly number[] | null, cls: number, sep: number, limit: number): ModelInput {
  const room = limit - (b ? 3 : 2);
  let na = a.length, nb = b ? b.length : 0;
  const truncated = na + nb > room;
  while (na + nb > room) { if (na >= nb) na--; else nb--; }
  const ids = [cls, ...a.slice(0, na), sep];
  const types = ids.map(() => 0);
  if (b) for (const id of [...b.slice(0, nb), sep]) { ids.push(id); types.push(1); }
  return { ids, types, truncated };
}

async function recordInput(tok: WordPieceTokenizer, rec: DatasetRecord, limit: number): Promise<ModelInput> {
  const { cls, sep } = tok.special;
  const enc = async (s: string) => Array.from((await tok.encode(s)).ids);
  if (rec.kind === 'qa') return layout(await enc(rec.question), await enc(rec.context), cls, sep, limit);
  if (rec.kind === 'classification' && rec.textPair !== undefined) return layout(await enc(rec.text), await enc(rec.textPair), cls, sep, limit);
  return layout(await enc(rec.text), null, cls, sep, limit);
}

async function findRecord(file: string, index: number, dataset: string): Promise<{ record: DatasetRecord; split: string }> {
  for await (const r of readRecordsJsonl(file)) if (r.index === index) return { record: r.record, split: r.split };
  throw new ApiError('not-found', `index: dataset '${dataset}' has no record ${index}`);
}

/** max_position_embeddings of a checkpoint (the engine refuses longer inputs). */
function positionLimit(dir: string): number {
  try {
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { max_position_embeddings?: number };
    return typeof cfg.max_position_embeddings === 'number' ? cfg.max_position_embeddings : ATTENTION_MAPS_MAX_TOKENS;
  } catch {
    throw new ApiError('not-found', `run checkpoint ${dir}: no such file config.json (was it removed?)`);
  }
}

const round6 = (a: ArrayLike<number>): number[] => Array.from(a, (x) => (x === 0 ? 0 : Number(x.toPrecision(6))));

function runSummary(run: RunRow): AttentionMapsResult['run'] {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(run.attentionParams)) params[k] = String(v);
  return { id: run.id, name: run.name, task: run.task, attention: run.attention, attentionParams: params, datasetName: run.datasetName };
}

async function attentionMaps(ctx: ApiContext, p: OpPayload<'attention.maps'>): Promise<AttentionMapsResult> {
  const store = ctx.store();
  const run = resolveRun(store, p.run);
  const ck = store.checkpoints.latest(run.id);
  if (!ck) throw new ApiError('not-found', `run ${run.id} (${run.name}) has no checkpoint yet: attention maps need trained weights`);
  const limit = Math.min(ATTENTION_MAPS_MAX_TOKENS, positionLimit(ck.path));

  const dsName = p.dataset ?? run.datasetName;
  const ds = store.datasets.get(dsName);
  if (!ds) {
    throw new ApiError('not-found', p.dataset !== undefined
      ? `dataset: no dataset '${dsName}' in this lab`
      : `run ${run.id} (${run.name}) trained on '${dsName}', which is not in this lab (synthetic or removed): there is no tokenizer to read text with`);
  }
  const tok = datasetTokenizer(ds);
  let input: ModelInput;
  let source: AttentionMapsResult['source'];
  if (p.text !== undefined) {
    const ids = Array.from((await tok.encode(p.text)).ids);
    input = layout(ids, null, tok.special.cls, tok.special.sep, limit);
    if (input.truncated)
      throw new ApiError('bad-request', `text: ${ids.length + 2} tokens with [CLS] and [SEP]; the explorer shows at most ${limit}: shorten the text`);
    source = { kind: 'text' };
  } else {
    const { record, split } = await findRecord(path.join(ds.dir, RECORDS_FILE), p.index!, dsName);
    input = await recordInput(tok, record, limit);
    source = { kind: 'record', dataset: dsName, index: p.index!, split };
  }
  if (input.ids.some((id) => id >= Number((run.modelConfig as { vocabSize?: number }).vocabSize ?? Infinity)))
    throw new ApiError('bad-request', `dataset '${dsName}' has token ids outside run ${run.id}'s vocabulary (a different tokenizer)`);

  let maps;
  try {
    maps = await ctx.engine().attentionMaps(ck.path, {
      inputIds: Int32Array.from(input.ids),
      tokenTypeIds: Int32Array.from(input.types),
      ...(p.layer !== undefined ? { layer: p.layer } : {}),
      ...(p.seed !== undefined ? { seed: p.seed } : {}),
    });
  } catch (e) {
    // The engine names what is wrong (layer out of range, a checkpoint file missing or damaged).
    const msg = e instanceof Error ? e.message : String(e);
    if (/layer .* is outside|outside the vocabulary/.test(msg)) throw new ApiError('bad-request', msg);
    if (/No such file|cannot open|missing tensor|not a safetensors/i.test(msg)) throw new ApiError('not-found', `run ${run.id} checkpoint at step ${ck.step}: ${msg}`);
    throw e;
  }
  return {
    run: runSummary(run),
    checkpoint: { step: ck.step },
    source,
    tokens: input.ids.map((id, i) => ({ id, token: tok.idToToken(id) ?? '[?]', type: input.types[i]! })),
    truncated: input.truncated,
    numLayers: maps.numLayers,
    numHeads: maps.numHeads,
    layers: maps.layers.map((l) => ({
      layer: l.layer,
      heads: l.heads.map((h, head) => ({
        head,
        exact: round6(h.exact),
        variant: round6(h.variant),
        computed: Array.from(h.computed),
        outputRelError: h.outputRelError,
        meanTv: h.meanTv,
        maxTv: h.maxTv,
        replayError: h.replayError,
        support: h.support,
        density: h.density,
        collisions: h.collisions,
      })),
    })),
  };
}

export const attentionMapsHandlers: Handlers<'attention.maps'> = {
  'attention.maps': attentionMaps,
};
