/**
 * events.ts: the API's live event hub. Listeners subscribe to topics (one run, every run's
 * lifecycle, long jobs); emit() delivers an event to the listeners of each topic it belongs to
 * (contract-types.ts topicsOf). StepThrottle coalesces a run's step events to at most ~10 per
 * second (the last step wins; `steps` counts what was folded in), so a fast tiny model cannot flood
 * a WebSocket.
 *
 * It knows nothing of runs or the store: training.ts and run-watch.ts feed it. A listener that
 * throws is logged and kept (one bad subscriber must not stop the others).
 */
import { topicKey, topicsOf, type EventListener, type EventTopic, type LabEvent, type LabEvents, type RunStepEvent } from './contract.js';

export class EventHub implements LabEvents {
  private readonly listeners = new Map<string, Set<EventListener>>();
  /** Called when the first listener of a topic arrives and when the last one leaves. */
  onTopicChange: ((topic: EventTopic, active: boolean) => void) | undefined;

  constructor(private readonly log: (text: string) => void = (t) => process.stderr.write(t + '\n')) {}

  subscribe(topic: EventTopic, listener: EventListener): () => void {
    const key = topicKey(topic);
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    const first = set.size === 0;
    set.add(listener);
    if (first) this.onTopicChange?.(topic, true);
    return () => this.unsubscribe(topic, listener);
  }

  unsubscribe(topic: EventTopic, listener: EventListener): void {
    const key = topicKey(topic);
    const set = this.listeners.get(key);
    if (!set || !set.delete(listener)) return;
    if (set.size === 0) {
      this.listeners.delete(key);
      this.onTopicChange?.(topic, false);
    }
  }

  /** Whether anyone listens to `topic`. */
  has(topic: EventTopic): boolean {
    return (this.listeners.get(topicKey(topic))?.size ?? 0) > 0;
  }

  /** Run ids with at least one listener on their 'run' topic. */
  watchedRuns(): number[] {
    return [...this.listeners.keys()].filter((k) => k.startsWith('run:')).map((k) => Number(k.slice(4)));
  }

  emit(event: LabEvent): void {
    for (const topic of topicsOf(event)) {
      for (const l of [...(this.listeners.get(topicKey(topic)) ?? [])]) {
        try {
          l(event);
        } catch (e) {
          this.log(`lshlab api: an event listener failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        }
      }
    }
  }
}

/** At most one step event per run per `intervalMs`; the latest step wins, earlier ones are counted. */
export class StepThrottle {
  private readonly pending = new Map<number, { event: RunStepEvent; timer: NodeJS.Timeout | undefined; lastSent: number }>();

  constructor(
    private readonly send: (e: RunStepEvent) => void,
    private readonly intervalMs = 100,
  ) {}

  push(e: RunStepEvent): void {
    const now = Date.now();
    const p = this.pending.get(e.runId);
    if (!p) {
      this.pending.set(e.runId, { event: e, timer: undefined, lastSent: now });
      this.send(e);
      return;
    }
    if (p.timer) {
      p.event = { ...e, steps: p.event.steps + e.steps };
      return;
    }
    const wait = p.lastSent + this.intervalMs - now;
    if (wait <= 0) {
      p.lastSent = now;
      this.send(e);
      return;
    }
    p.event = e;
    p.timer = setTimeout(() => this.flush(e.runId), wait);
    p.timer.unref();
  }

  /** Sends what is held for a run now (before its end event), and forgets the run if `end`. */
  flush(runId: number, end = false): void {
    const p = this.pending.get(runId);
    if (!p) return;
    if (p.timer) {
      clearTimeout(p.timer);
      p.timer = undefined;
      p.lastSent = Date.now();
      this.send(p.event);
    }
    if (end) this.pending.delete(runId);
  }

  close(): void {
    for (const p of this.pending.values()) if (p.timer) clearTimeout(p.timer);
    this.pending.clear();
  }
}
