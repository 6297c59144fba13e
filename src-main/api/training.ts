/**
 * training.ts: runs.start, runs.cancel and runs.resume. A run started here trains in a child
 * process of this process (training/host.ts RunHost); its messages become live events (steps
 * throttled to ~10/s per run, evaluations, checkpoints, status lines, the end). Cancel works for
 * any active run: the request is recorded in the database (store.runs.requestCancel), which the
 * owning host, in this or any other process, forwards to its training process; for runs hosted
 * here the handle is also told at once.
 *
 * Runs hosted by other processes are observed by run-watch.ts, not here.
 */
import type { StepMessage } from '../training/protocol.js';
import { listCheckpoints } from '../training/checkpoints.js';
import { specOfRun, type RunHandle } from '../training/host.js';
import { runDirOf } from '../training/run-owner.js';
import type { RunSpec } from '../training/spec.js';
import { TASK_KIND } from '../lab/task-data.js';
import { resolveRun } from '../lab/runs.js';
import { FINAL_STATUSES } from '../store/types.js';
import { ApiError, type RunStepEvent } from './contract.js';
import type { ApiContext } from './context.js';
import type { Handlers } from './handler.js';
import { DeviceError } from '../training/device.js';

function stepEvent(runId: number, m: StepMessage): RunStepEvent {
  return {
    type: 'run.step', runId, step: m.step, totalSteps: m.totalSteps, epoch: m.epoch, loss: m.loss, lr: m.lr, gradNorm: m.gradNorm,
    tokensPerS: m.stepS > 0 ? m.tokens / m.stepS : null, samplesPerS: m.stepS > 0 ? m.samples / m.stepS : null,
    density: m.attention?.density ?? null, steps: 1,
  };
}

/** Starts `spec` in this process, bridging its messages to events; returns the handle. */
export function startRun(ctx: ApiContext, spec: RunSpec, field: string): RunHandle {
  if (!spec.dataset.startsWith('synthetic:')) {
    const d = ctx.store().datasets.get(spec.dataset);
    if (!d) throw new ApiError('not-found', `${field}.dataset: no dataset '${spec.dataset}' in this lab (datasets.list)`);
    if (TASK_KIND[spec.task] !== d.kind)
      throw new ApiError('bad-request', `${field}.dataset: '${spec.dataset}' is a ${d.kind} dataset; task ${spec.task} needs a ${TASK_KIND[spec.task]} dataset`);
  }
  let runId = 0; // set as soon as start() returns: the process's messages arrive later
  const ev = ctx.events;
  let handle: RunHandle;
  try {
    handle = ctx.host().start(spec, {
      onStatus: (text) => ev.emit({ type: 'run.status', runId, status: 'running', text }),
      onStep: (m) => ctx.steps.push(stepEvent(runId, m)),
      onEval: (m) => {
        ctx.steps.flush(runId);
        ev.emit({ type: 'run.eval', runId, step: m.step, split: m.split, metrics: { ...m.metrics, seconds: m.seconds } });
      },
      onCheckpoint: (m) => ev.emit({ type: 'run.checkpoint', runId, step: m.step, path: m.path, bytes: m.bytes }),
    });
  } catch (e) {
    // A device that cannot be had (training/device.ts): the caller's request, no row was created.
    if (e instanceof DeviceError) throw new ApiError('bad-request', `${field}.device: ${e.message}`);
    throw e;
  }
  runId = handle.run.id;
  ctx.local.set(runId, handle);
  ev.emit({ type: 'run.created', run: handle.run });
  ev.emit({ type: 'run.status', runId, status: handle.run.status, text: handle.threads.note });
  handle.done.then(
    (row) => {
      ctx.local.delete(runId);
      ctx.steps.flush(runId, true);
      ev.emit({ type: 'run.end', runId, status: row.status, error: row.error, lastStep: row.lastStep });
    },
    (e: unknown) => {
      ctx.local.delete(runId);
      ctx.steps.flush(runId, true);
      ctx.log(`lshlab api: run ${runId}: could not record its end: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      const row = ctx.store().runs.get(runId);
      ev.emit({ type: 'run.end', runId, status: row?.status ?? 'crashed', error: row?.error ?? String(e), lastStep: row?.lastStep ?? 0 });
    },
  );
  return handle;
}

export const trainingHandlers: Handlers<'runs.start' | 'runs.cancel' | 'runs.resume'> = {
  'runs.start': (ctx, p) => ({ run: startRun(ctx, p.spec, 'spec').run }),

  'runs.cancel': (ctx, p) => {
    const store = ctx.store();
    const run = resolveRun(store, p.run);
    if (FINAL_STATUSES.includes(run.status)) return { run, how: 'not-active' };
    const row = store.runs.requestCancel(run.id);
    const local = ctx.local.get(run.id);
    if (local) {
      local.cancel();
      return { run: row, how: 'local' };
    }
    return { run: row, how: 'requested' };
  },

  'runs.resume': (ctx, p) => {
    const store = ctx.store();
    const run = resolveRun(store, p.run);
    if (!FINAL_STATUSES.includes(run.status)) throw new ApiError('conflict', `run: run ${run.id} (${run.name}) is still ${run.status}; resume it once it has ended`);
    const c = store.checkpoints.latest(run.id) ?? listCheckpoints(runDirOf(ctx.dataDir, run)).pop();
    if (!c) throw new ApiError('conflict', `run: run ${run.id} (${run.name}) has no checkpoint to resume from`);
    const { fromCheckpoint: _f, ...base } = specOfRun(run);
    const spec: RunSpec = { ...base, name: p.name ?? run.name, fromCheckpoint: c.path };
    if (p.steps !== undefined) {
      spec.steps = p.steps;
      delete spec.epochs;
    } else if (p.epochs !== undefined) {
      spec.epochs = p.epochs;
      delete spec.steps;
    }
    if (spec.steps !== undefined && spec.steps <= c.step)
      throw new ApiError('bad-request', `steps: the checkpoint is at step ${c.step}; give steps above it (the total to reach)`);
    const handle = startRun(ctx, spec, 'run');
    return { run: handle.run, from: { runId: run.id, step: c.step, checkpoint: c.path } };
  },
};
