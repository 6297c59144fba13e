/**
 * helpers.ts: what the training tests share: a temporary lab (data directory + store opened as
 * host), a tiny model spec on the synthetic dataset that trains in well under a second a step,
 * and a way to wait for a run to reach a step.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, storePath } from '../../src-main/store/index.js';
import type { LabStore } from '../../src-main/store/types.js';
import { RunHost } from '../../src-main/training/host.js';
import { defaultSpec, type RunSpec } from '../../src-main/training/spec.js';
import { SYNTHETIC_RANDOM } from '../../src-main/training/task-source.js';

export interface TempLab {
  dir: string;
  store: LabStore;
  host: RunHost;
  cleanup(): void;
}

export function tempLab(prefix = 'lshlab-train-'): TempLab {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const store = openStore(storePath(dir));
  const host = new RunHost(store, dir, { threads: 1, flushMs: 50 });
  return {
    dir,
    store,
    host,
    cleanup: () => {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A model small enough that a step takes milliseconds: hidden 16, 1 layer, 2 heads, sequence 16. */
export function tinySpec(over: Partial<RunSpec> = {}): RunSpec {
  return defaultSpec({
    task: 'mlm',
    dataset: SYNTHETIC_RANDOM,
    steps: 12,
    batchSize: 4,
    warmupSteps: 2,
    evalBatches: 2,
    ...over,
    model: {
      hiddenSize: 16,
      numHiddenLayers: 1,
      numAttentionHeads: 2,
      intermediateSize: 32,
      maxSeqLen: 16,
      hiddenDropoutProb: 0.1,
      attentionProbsDropoutProb: 0.1,
      ...(over.model ?? {}),
    },
  });
}
