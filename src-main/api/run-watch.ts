/**
 * run-watch.ts: live events for runs this process does not host (a `lshlab train` in a terminal,
 * the app while serve mode is open, another serve process). While anyone subscribes to 'runs' or
 * to such a run, the store is polled every `pollMs` (default 500 ms; never while nobody listens):
 *   'runs':     runs that became active (run.created), status changes and ends (run.end);
 *   'run:<id>': new steps (one coalesced run.step from the metric summaries: the store keeps the
 *               last value of each metric, so no history is read), new evaluations and
 *               checkpoints, the end.
 * Runs hosted here are skipped: training.ts pushes their events from the run host.
 */
import type { RunRow, RunStatus } from '../store/types.js';
import { FINAL_STATUSES } from '../store/types.js';
import type { ApiContext } from './context.js';
import type { EventTopic } from './contract.js';

interface Seen {
  status: RunStatus;
  lastStep: number;
  evals: number;
  checkpoints: number;
}

export class RunWatch {
  private timer: NodeJS.Timeout | undefined;
  /** Active runs of other processes seen by the 'runs' poll. */
  private readonly active = new Map<number, RunStatus>();
  private primed = false;
  /** Per watched run: what its subscribers have been told. */
  private readonly seen = new Map<number, Seen>();

  constructor(private readonly ctx: ApiContext, private readonly pollMs = 500) {
    ctx.events.onTopicChange = (topic, on) => this.topicChanged(topic, on);
  }

  private topicChanged(topic: EventTopic, on: boolean): void {
    if (topic.kind === 'jobs') return;
    if (topic.kind === 'run' && !on) this.seen.delete(topic.runId);
    if (topic.kind === 'runs' && !on) {
      this.active.clear();
      this.primed = false;
    }
    // Prime at once: what is active when the subscriber arrives is its starting point (it has just
    // listed the runs); anything that appears after that must be announced, even before the first tick.
    if (topic.kind === 'runs' && on) this.safely(() => this.pollLifecycle());
    if (topic.kind === 'run' && on && !this.ctx.local.has(topic.runId)) this.safely(() => this.pollRun(topic.runId));
    const wanted = this.ctx.events.has({ kind: 'runs' }) || this.ctx.events.watchedRuns().length > 0;
    if (wanted && !this.timer) {
      this.timer = setInterval(() => this.tick(), this.pollMs);
      this.timer.unref();
    } else if (!wanted && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** One poll (exported for tests through tickNow). */
  tick(): void {
    this.safely(() => {
      if (this.ctx.events.has({ kind: 'runs' })) this.pollLifecycle();
      for (const id of this.ctx.events.watchedRuns()) if (!this.ctx.local.has(id)) this.pollRun(id);
    });
  }

  private safely(f: () => void): void {
    try {
      f();
    } catch (e) {
      // A busy or closing database: try again next tick, and say so once per failure.
      this.ctx.log(`lshlab api: polling runs failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private pollLifecycle(): void {
    const store = this.ctx.store();
    const now = new Map(store.runs.active().filter((r) => !this.ctx.local.has(r.id)).map((r) => [r.id, r] as const));
    const ev = this.ctx.events;
    if (this.primed) {
      for (const [id, r] of now) {
        const before = this.active.get(id);
        if (before === undefined) ev.emit({ type: 'run.created', run: r });
        if (before !== r.status) ev.emit({ type: 'run.status', runId: id, status: r.status, text: null });
      }
      for (const id of this.active.keys()) {
        if (now.has(id) || this.seen.has(id)) continue; // a watched run's end is sent by pollRun
        const r = store.runs.get(id);
        if (r) ev.emit({ type: 'run.end', runId: id, status: r.status, error: r.error, lastStep: r.lastStep });
      }
    }
    this.active.clear();
    for (const [id, r] of now) this.active.set(id, r.status);
    this.primed = true;
  }

  private pollRun(id: number): void {
    const store = this.ctx.store();
    const r = store.runs.get(id);
    if (!r) return;
    const s = this.seen.get(id);
    const evals = store.evaluations.list(id);
    const ckpts = store.checkpoints.list(id);
    if (!s) {
      // First look: what exists now is the subscriber's starting point (it reads it with runs.show).
      this.seen.set(id, { status: r.status, lastStep: r.lastStep, evals: evals.length, checkpoints: ckpts.length });
      return;
    }
    const ev = this.ctx.events;
    if (r.lastStep > s.lastStep) {
      ev.emit(this.stepOf(r, r.lastStep - s.lastStep));
      s.lastStep = r.lastStep;
    }
    for (const e of evals.slice(s.evals)) ev.emit({ type: 'run.eval', runId: id, step: e.step, split: e.split, metrics: e.metrics });
    s.evals = evals.length;
    for (const c of ckpts.slice(s.checkpoints)) ev.emit({ type: 'run.checkpoint', runId: id, step: c.step, path: c.path, bytes: c.bytes });
    s.checkpoints = ckpts.length;
    if (r.status !== s.status) {
      if (FINAL_STATUSES.includes(r.status)) ev.emit({ type: 'run.end', runId: id, status: r.status, error: r.error, lastStep: r.lastStep });
      else ev.emit({ type: 'run.status', runId: id, status: r.status, text: null });
      s.status = r.status;
    }
  }

  private stepOf(r: RunRow, steps: number) {
    const last = new Map(this.ctx.store().metrics.summaries(r.id).map((m) => [m.key, m.last] as const));
    const v = (k: string): number | null => last.get(k) ?? null;
    const total = r.trainConfig['steps'];
    return {
      type: 'run.step' as const, runId: r.id, step: r.lastStep, totalSteps: typeof total === 'number' ? total : null,
      epoch: v('train/epoch'), loss: v('train/loss') ?? NaN, lr: v('train/lr'), gradNorm: v('train/grad_norm'),
      tokensPerS: v('train/tokens_per_s'), samplesPerS: v('train/samples_per_s'), density: v('attn/density'), steps,
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.ctx.events.onTopicChange = undefined;
  }
}
