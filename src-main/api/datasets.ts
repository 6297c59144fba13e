/**
 * datasets.ts: the dataset and tokenizer operations (datasets.list/show/import/rm/addBuiltin,
 * tokenizers.list) over lab/datasets.ts and lab/tokenizers.ts. Imports take a path on this machine
 * (checked against the allowed roots, symlinks resolved) or a finished upload; their progress goes
 * out as 'job.progress' events under the caller's jobId, and jobs.cancel stops them (nothing is
 * left behind: the lab's importer is atomic).
 *
 * It parses no files itself and does not receive uploads (server/upload.ts).
 */
import * as fs from 'node:fs';
import { addBuiltins, importDataset, listDatasets, removeDataset, showDataset, type DatasetProgress } from '../lab/datasets.js';
import { listTokenizers } from '../lab/tokenizers.js';
import { ApiError, type LabEvent } from './contract.js';
import type { ApiContext } from './context.js';
import { datasetStatistics, datasetTokenizer, previewRows } from './dataset-preview.js';
import type { Handlers } from './handler.js';
import type { Upload } from './uploads.js';

function progressEmitter(ctx: ApiContext, jobId: string | undefined, job: 'import' | 'add-builtin'): ((p: DatasetProgress) => void) | undefined {
  if (jobId === undefined) return undefined;
  let last = 0;
  return (p) => {
    // Byte-level progress can fire thousands of times a second: ~10 events/s is enough for a bar.
    const now = Date.now();
    if (now - last < 100 && p.done < p.total) return;
    last = now;
    const e: LabEvent = { type: 'job.progress', jobId, job, dataset: p.dataset, phase: p.phase, done: p.done, total: p.total, unit: p.unit };
    ctx.events.emit(e);
  };
}

export const datasetHandlers: Handlers<'datasets.list' | 'datasets.show' | 'datasets.import' | 'datasets.rm' | 'datasets.addBuiltin' | 'tokenizers.list'> = {
  'datasets.list': (ctx) => listDatasets(ctx.store()),

  'datasets.show': async (ctx, p) => {
    const store = ctx.store();
    if (!store.datasets.get(p.name)) throw new ApiError('not-found', `name: no dataset '${p.name}' in this lab`);
    const d = showDataset(store, p.name);
    const problems = [...d.problems];
    let tokenizer = null;
    let preview: Awaited<ReturnType<typeof previewRows>> = [];
    if (p.split !== undefined && d.row.splits[p.split] === undefined)
      throw new ApiError('bad-request', `split: dataset '${p.name}' has no split '${p.split}' (has ${Object.keys(d.row.splits).join(', ')})`);
    if (problems.length === 0) {
      try {
        const tok = datasetTokenizer(d.row);
        tokenizer = { name: d.manifest?.tokenizer.name ?? d.row.tokenizer, vocabSize: tok.vocabSize };
        preview = await previewRows(d.row, tok, { rows: p.rows, offset: p.offset, split: p.split });
      } catch (e) {
        problems.push(`preview: ${(e as Error).message}`);
      }
    }
    let statistics = null;
    if (p.statistics && problems.length === 0) {
      statistics = ctx.statsCache.get(d.row.sha256) ?? null;
      if (!statistics) {
        try {
          statistics = await datasetStatistics(d.row);
          ctx.statsCache.set(d.row.sha256, statistics);
        } catch (e) {
          problems.push(`statistics: ${(e as Error).message}`);
        }
      }
    }
    return { row: d.row, files: d.files, problems, tokenizer, preview, statistics };
  },

  'datasets.import': async (ctx, p) => {
    let upload: Upload | undefined;
    let file: string;
    if (p.source.type === 'upload') {
      upload = ctx.uploads.take(p.source.uploadId);
      file = upload.file;
    } else {
      file = ctx.checkImportPath(p.source.path);
      if (!fs.statSync(file).isFile()) throw new ApiError('bad-request', `source.path: ${p.source.path} is not a file`);
    }
    const job = ctx.beginJob(p.jobId);
    const notes: string[] = [];
    try {
      const dataset = await importDataset(ctx.store(), ctx.dataDir, {
        path: file, kind: p.kind, name: p.name, format: p.format, columns: p.columns, labels: p.labels, textUnit: p.textUnit,
        validationFraction: p.validationFraction, seed: p.seed, tokenizer: p.tokenizer,
        onProgress: progressEmitter(ctx, p.jobId, 'import'), onNote: (n) => notes.push(n), signal: job.signal,
      });
      return { dataset, notes };
    } finally {
      job.end();
      if (upload) ctx.uploads.remove(upload);
    }
  },

  'datasets.rm': (ctx, p) => {
    const store = ctx.store();
    const inUse = store.runs.active().filter((r) => r.datasetName === p.name);
    if (inUse.length > 0)
      throw new ApiError('conflict', `dataset '${p.name}' is used by running run(s) ${inUse.map((r) => `${r.id} (${r.name})`).join(', ')}; cancel them first`);
    const r = removeDataset(store, ctx.dataDir, p.name);
    return { name: p.name, rowRemoved: r.row, dirRemoved: r.dir };
  },

  'datasets.addBuiltin': async (ctx, p) => {
    const job = ctx.beginJob(p.jobId);
    try {
      const r = await addBuiltins(ctx.store(), ctx.dataDir, { onProgress: progressEmitter(ctx, p.jobId, 'add-builtin'), signal: job.signal });
      return { created: r.created.map((d) => d.name), existing: r.existing, tokenizer: r.tokenizer, seconds: r.seconds };
    } finally {
      job.end();
    }
  },

  'tokenizers.list': (ctx) =>
    listTokenizers(ctx.dataDir).map((t) => ({
      name: t.name, vocabSize: t.vocabSize, trainedOn: t.trainedOn, minFrequency: t.minFrequency, createdAt: t.createdAt, sha256: t.sha256,
    })),
};
