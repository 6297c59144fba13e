/**
 * worker.ts: the training process. The run host forks it (one per run), sends one 'start' message
 * and then at most a 'cancel'; it answers with the messages of protocol.ts and exits. It loads the
 * run's data, builds the engine's Trainer (resuming from a checkpoint, or taking a pretrained
 * encoder with `initFrom`, if asked) and runs the loop.
 *
 * It never opens the database. If the host goes away (its IPC channel closes: killed, crashed) the
 * worker exits at once, so no orphan keeps a CPU busy; the host's successor marks the run crashed.
 * Exit codes: 0 after done / cancelled / diverged, 1 after an error it could report.
 */
import * as fs from 'node:fs';
import { loadEngine } from '../engine/index.js';
import type { HostMessage, WorkerMessage } from './protocol.js';
import { modelConfigOf, totalStepsOf, trainConfigOf } from './spec.js';
import { makeTrainBatcher, trainingLoop } from './loop.js';
import { loadRunData } from './task-source.js';
import { checkCheckpointDir } from './checkpoints.js';

function send(m: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });
}

let cancelled = false;
let started = false;

async function run(m: Extract<HostMessage, { type: 'start' }>): Promise<void> {
  const engine = loadEngine();
  if (m.threads !== undefined) engine.setThreads(m.threads);
  const spec = m.spec;
  fs.mkdirSync(m.runDir, { recursive: true });
  void send({ type: 'status', text: `loading ${spec.task} data from ${spec.dataset}` });
  const data = await loadRunData(m.dataDir, spec);
  const batcher = makeTrainBatcher(spec, data);
  const totalSteps = totalStepsOf(spec, batcher.batchesPerEpoch);
  const trainer = new engine.Trainer(modelConfigOf(spec, data), trainConfigOf(spec, totalSteps));
  if (spec.fromCheckpoint) {
    const dir = checkCheckpointDir(spec.fromCheckpoint);
    void send({ type: 'status', text: `resuming from ${dir}` });
    await trainer.load(dir);
    if (trainer.stepCount >= totalSteps)
      throw new Error(`checkpoint ${dir} is at step ${trainer.stepCount}, not below the run's ${totalSteps} steps`);
  } else if (spec.initFrom) {
    // Fine-tuning: the encoder from another model, the head, optimizer state and step fresh. A
    // name or shape mismatch throws here, before step 1, naming the tensor and both shapes.
    void send({ type: 'status', text: `initialising the encoder from ${spec.initFrom}` });
    const report = await trainer.initFrom(spec.initFrom);
    for (const note of report.notes) void send({ type: 'status', text: `init-from: ${note}` });
  }
  const info = engine.info();
  await send({
    type: 'ready',
    totalSteps,
    startStep: trainer.stepCount,
    numParameters: trainer.numParameters,
    trainExamples: data.train.features.count,
    batchesPerEpoch: batcher.batchesPerEpoch,
    vocabSize: data.vocabSize,
    engine: { version: info.engineVersion, threads: info.threads, gemmKernel: info.gemmKernel, cpu: info.cpu, cuda: info.cuda },
  });
  await trainingLoop({
    trainer,
    data,
    spec,
    runDir: m.runDir,
    totalSteps,
    emit: (msg) => void send(msg),
    isCancelled: () => cancelled,
  });
}

process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal reaches the whole process group; the host turns it into a 'cancel' message
// (or a kill on the second press), so the training process itself ignores it.
process.on('SIGINT', () => undefined);
process.on('message', (m: HostMessage) => {
  if (m.type === 'cancel') {
    cancelled = true;
    return;
  }
  if (m.type !== 'start' || started) return;
  started = true;
  run(m).then(
    async () => {
      await send({ type: 'status', text: 'exiting' });
      process.exit(0);
    },
    async (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      await send({ type: 'error', message: e.message, ...(e.stack ? { stack: e.stack } : {}) });
      process.exit(1);
    },
  );
});
