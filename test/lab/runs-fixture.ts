/**
 * runs-fixture.ts: a temporary lab data directory with the real store and three recorded runs, for
 * the run-history tests (test/lab/runs.test.ts, test/cli/runs.test.ts).
 *   baseline   exact, mlm, finished, tag 'paper', 200 steps in 100 s, batch 32, validation eval
 *   lsh_50%    bert-lsh (bands 2), mlm, finished, NaN in its loss history, attention counters,
 *              only a 'test' evaluation, 100 steps in 50 s, no batch size, a checkpoint directory
 *   live       exact, classification, running (pid 4242), tags 'paper' and 'wip', 10 steps
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, storePath } from '../../src-main/store/index.js';
import type { LabStore, NewRun, RunRow } from '../../src-main/store/types.js';

export interface Lab {
  dir: string;
  store: LabStore;
  baseline: RunRow;
  lsh: RunRow;
  live: RunRow;
  /** Closes the store and deletes the directory. */
  cleanup(): void;
}

export const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

function newRun(over: Partial<NewRun> & Pick<NewRun, 'name'>): NewRun {
  return {
    task: 'mlm',
    datasetName: 'wiki',
    modelConfig: { hiddenSize: 128 },
    attention: 'exact',
    attentionParams: {},
    trainConfig: { batchSize: 32, lr: 0.001 },
    seed: '42',
    ...over,
  };
}

/** A fresh data dir with the three runs; the store stays open (close it before a CLI call if needed). */
export function makeLab(): Lab {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-runs-'));
  const store = openStore(storePath(dir));
  const env = store.environments.record({ node: 'v20.0.0', cpu: 'test cpu', threads: 2 });

  const b = store.runs.create(newRun({ name: 'baseline', tags: ['paper'], status: 'finished' }));
  store.runs.update(b.id, { startedAt: T0, endedAt: T0 + 100_000, environmentId: env });
  const points = [];
  for (let s = 1; s <= 200; s++) {
    points.push({ key: 'train/loss', step: s, value: 10 - s / 40, time: T0 + s * 500 });
    points.push({ key: 'train/step_s', step: s, value: 0.5, time: T0 + s * 500 });
  }
  store.metrics.append(b.id, points);
  store.evaluations.add(b.id, 100, 'validation', { loss: 3, accuracy: 0.25, perplexity: Math.exp(3) });
  store.evaluations.add(b.id, 200, 'validation', { loss: 2, accuracy: 0.5, perplexity: Math.exp(2) });

  const l = store.runs.create(
    newRun({ name: 'lsh_50%', attention: 'bert-lsh', attentionParams: { bands: 2 }, trainConfig: {}, status: 'finished' }),
  );
  store.runs.update(l.id, { startedAt: T0, endedAt: T0 + 50_000 });
  store.metrics.append(l.id, [
    { key: 'train/loss', step: 99, value: NaN, time: T0 + 1 },
    { key: 'train/loss', step: 100, value: 3.25, time: T0 + 2 },
    { key: 'attn/dot_products', step: 100, value: 1234, time: T0 + 2 },
    { key: 'attn/density', step: 100, value: 0.125, time: T0 + 2 },
  ]);
  store.evaluations.add(l.id, 100, 'test', { loss: 1, accuracy: 0.75 });
  const ckdir = path.join(dir, 'runs', l.uuid, 'checkpoints', 'step-100');
  fs.mkdirSync(ckdir, { recursive: true });
  fs.writeFileSync(path.join(ckdir, 'model.safetensors'), 'x');
  store.checkpoints.add({ runId: l.id, step: 100, path: ckdir, bytes: 1 });

  const v = store.runs.create(newRun({ name: 'live', task: 'classification', tags: ['paper', 'wip'], status: 'running' }));
  store.runs.update(v.id, { startedAt: T0, pid: 4242 });
  store.metrics.append(v.id, [{ key: 'train/loss', step: 10, value: 0.7, time: T0 + 3 }]);

  const get = (id: number): RunRow => store.runs.get(id) as RunRow;
  return {
    dir,
    store,
    baseline: get(b.id),
    lsh: get(l.id),
    live: get(v.id),
    cleanup() {
      try {
        store.close();
      } catch {
        // already closed
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
