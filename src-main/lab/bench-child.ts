/**
 * bench-child.ts: the benchmark process (bench-process.ts starts it). It takes one 'run' message,
 * loads the engine, runs benchAttention (forwarding its progress lines when asked), sends the
 * result or the engine's error message, and exits. It never opens the database: the parent
 * records the result, so a benchmark killed mid-measurement leaves nothing behind.
 *
 * If the parent goes away (its IPC channel closes) it exits at once, so no orphan keeps measuring.
 */
import { loadEngine } from '../engine/index.js';
import type { BenchReply, BenchRequest } from './bench-process.js';

function send(m: BenchReply): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });
}

let started = false;

process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal reaches the whole process group; the parent decides what it means.
process.on('SIGINT', () => undefined);
process.on('message', (m: BenchRequest) => {
  if (m.type !== 'run' || started) return;
  started = true;
  (async () => {
    const engine = loadEngine();
    const result = await engine.benchAttention({
      ...m.options,
      ...(m.progress ? { onProgress: (line: string) => void send({ type: 'progress', line }) } : {}),
    });
    await send({ type: 'result', result });
  })().then(
    () => process.exit(0),
    async (err: unknown) => {
      await send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});
