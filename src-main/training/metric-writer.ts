/**
 * metric-writer.ts: the host's buffer between step messages and the store. Points are collected
 * and written in one transaction every `flushMs` or every `maxPoints` points, whichever comes
 * first, because one transaction per step would cost more than the step on a fast model and one
 * transaction per run would lose everything on a crash. What is lost on a host crash is at most
 * the last `flushMs` of points; a training-process crash loses nothing the host received.
 * It does not decide what a point is called: the host's `pointsOfStep` does.
 */
import type { LabStore, MetricPoint } from '../store/types.js';
import type { StepMessage } from './protocol.js';

export class MetricWriter {
  private buffer: MetricPoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Points written so far (for benchmarks and tests). */
  written = 0;

  constructor(
    private readonly store: LabStore,
    private readonly runId: number,
    private readonly flushMs = 250,
    private readonly maxPoints = 4096,
  ) {}

  add(points: readonly MetricPoint[]): void {
    for (const p of points) this.buffer.push(p);
    if (this.buffer.length >= this.maxPoints) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.store.metrics.append(this.runId, batch);
    this.written += batch.length;
  }
}

/** The metric points of one training step (names as docs/cli.md lists them). */
export function pointsOfStep(m: StepMessage, time = Date.now()): MetricPoint[] {
  const p = (key: string, value: number): MetricPoint => ({ key, step: m.step, value, time });
  const out = [
    p('train/loss', m.loss),
    p('train/lr', m.lr),
    p('train/grad_norm', m.gradNorm),
    p('train/step_s', m.stepS),
    p('train/compute_s', m.computeS),
    p('train/tokens_per_s', m.stepS > 0 ? m.tokens / m.stepS : NaN),
    p('train/samples_per_s', m.stepS > 0 ? m.samples / m.stepS : NaN),
    p('train/epoch', m.epoch),
  ];
  if (m.predictions > 0) out.push(p('train/accuracy', m.correct / m.predictions));
  if (m.forwardS !== undefined) {
    out.push(p('train/forward_s', m.forwardS), p('train/backward_s', m.backwardS ?? 0), p('train/optimizer_s', m.optimizerS ?? 0));
  }
  if (m.deviceS !== undefined) out.push(p('train/device_s', m.deviceS));
  const a = m.attention;
  if (a) {
    out.push(p('attn/dot_products', a.dotProducts), p('attn/density', a.density));
    if (a.collisions !== undefined) out.push(p('attn/collisions', a.collisions));
    // Stage times: only the stages a variant times (a CPU variant times hash/scores/softmax/
    // values; CUDA fuses hash and softmax into scores), so absent stages write no zeros.
    for (const [stage, s] of Object.entries(a.timeS ?? {})) {
      if (Number.isFinite(s) && s > 0) out.push(p(`attn/time/${stage}_s`, s));
    }
    (a.layers ?? []).forEach((l, i) => {
      out.push(p(`attn/layer${i}/density`, l.density));
      (l.headDensity ?? []).forEach((d, h) => out.push(p(`attn/layer${i}/head${h}/density`, d)));
    });
  }
  return out;
}
