/**
 * lab-api.ts: createLabApi(), the transport-agnostic implementation of the API contract. Both
 * shells use it: the Electron main process (over IPC) and serve mode (server/, over HTTP and a
 * WebSocket). call(op, payload) validates the payload with the contract (a bad one is
 * ApiError('bad-request') naming the field), runs the operation's handler, and turns failures
 * into ApiErrors (internal ones are logged with their stack; the caller gets a plain message).
 * events delivers live events (events.ts), fed by the runs this process hosts (training.ts) and,
 * while someone listens, by polling the store for runs of other processes (run-watch.ts).
 *
 * It imports nothing of Electron or HTTP. close() cancels the runs this process hosts (they keep
 * a checkpoint), waits for them to end (bounded), and closes the store.
 */
import { ApiError, isOpName, parsePayload, type LabApi, type OpName, type OpResult } from './contract.js';
import { ApiContext, type LabApiOptions } from './context.js';
import { toApiError } from './errors.js';
import type { Handler, Handlers } from './handler.js';
import { RunWatch } from './run-watch.js';
import { attentionMapsHandlers } from './attention-maps.js';
import { benchmarkHandlers } from './benchmarks.js';
import { compareHandlers } from './compare.js';
import { datasetHandlers } from './datasets.js';
import { runHandlers } from './runs.js';
import { studyHandlers } from './studies.js';
import { trainingHandlers } from './training.js';
import type { UploadRegistry } from './uploads.js';

export type { LabApiOptions } from './context.js';

/** Every operation's handler; the type makes a missing or extra one a compile error. */
const HANDLERS: Handlers<OpName> = { ...benchmarkHandlers, ...datasetHandlers, ...runHandlers, ...compareHandlers, ...trainingHandlers, ...attentionMapsHandlers, ...studyHandlers };

export interface LabApiInstance extends LabApi {
  /** Where serve mode's upload receiver writes (server/upload.ts). */
  readonly uploads: UploadRegistry;
  readonly dataDir: string;
  /** Ids of the runs this process hosts right now. */
  localRuns(): number[];
  /** Cancels this process's runs (checkpoints kept), waits up to `timeoutMs` for them, closes the store. */
  close(timeoutMs?: number): Promise<void>;
}

export function createLabApi(opts: LabApiOptions): LabApiInstance {
  const ctx = new ApiContext(opts);
  const watch = new RunWatch(ctx, opts.pollMs);
  let closed = false;

  async function call<O extends OpName>(op: O, payload?: unknown): Promise<OpResult<O>> {
    if (typeof op !== 'string' || !isOpName(op)) throw new ApiError('not-found', `unknown operation '${String(op)}'`);
    if (closed) throw new ApiError('conflict', 'the lab API is shutting down');
    const p = parsePayload(op, payload);
    try {
      return await (HANDLERS[op] as Handler<O>)(ctx, p);
    } catch (e) {
      throw toApiError(e, ctx.log, op);
    }
  }

  return {
    call,
    events: ctx.events,
    uploads: ctx.uploads,
    dataDir: ctx.dataDir,
    localRuns: () => [...ctx.local.keys()],
    async close(timeoutMs = 30_000) {
      if (closed) return;
      closed = true;
      watch.close();
      for (const j of ctx.jobs.values()) j.abort();
      const handles = [...ctx.local.values()];
      for (const h of handles) h.cancel();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
      await Promise.race([Promise.allSettled(handles.map((h) => h.done)).then(() => undefined), timeout]);
      clearTimeout(timer);
      for (const h of ctx.local.values()) h.kill('SIGKILL'); // did not stop in time: it becomes crashed
      if (ctx.local.size > 0) await Promise.race([Promise.allSettled([...ctx.local.values()].map((h) => h.done)), new Promise((r) => setTimeout(r, 2000))]);
      ctx.uploads.close();
      ctx.closeStore();
    },
  };
}
