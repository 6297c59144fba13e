/**
 * encode-pool.ts: a ChunkEncoder (token-cache.ts) over worker threads, each holding its own
 * tokenizer loaded from the tokenizer's files (encode-worker.ts), so that tokenization (the Rust
 * encodeBatch and the conversion of its results to ids/offsets, which runs in JS and is ~25% of
 * the cost) uses several cores. Chunks go round-robin to the workers; results come back in call
 * order because streamTokenCache awaits them in order. Worker count: LSHLAB_TOKENIZE_THREADS if
 * set, else os.availableParallelism() capped at MAX_WORKERS; 0 or 1 means "no pool" (the caller
 * then encodes in its own thread). A worker that fails to start or dies fails the import with
 * the reason; close() terminates every worker. It does not decide chunk sizes.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ChunkEncoder, FlatEncodings } from './chunk-encoding';

export const MAX_WORKERS = 8;

/** How many tokenizer workers to use here (0: encode in the calling thread). */
export function tokenizeWorkers(env: NodeJS.ProcessEnv = process.env): number {
  const v = env['LSHLAB_TOKENIZE_THREADS'];
  if (v !== undefined && v.trim() !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`LSHLAB_TOKENIZE_THREADS must be a non-negative integer, got "${v}"`);
    return n <= 1 ? 0 : Math.min(n, 64);
  }
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return cores <= 1 ? 0 : Math.min(cores, MAX_WORKERS);
}

interface Pending { resolve(f: FlatEncodings): void; reject(e: Error): void }

/** Starts `n` workers loading the tokenizer at `tokenizerPath`. */
export function workerEncoder(tokenizerPath: string, n: number): ChunkEncoder {
  const script = path.join(__dirname, 'encode-worker.js');
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let failure: Error | undefined;
  let closed = false;
  const fail = (err: Error): void => {
    failure ??= err;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  const workers = Array.from({ length: n }, (_, w) => {
    const worker = new Worker(script, { workerData: { tokenizerPath } });
    worker.on('message', (m: { id: number; error?: string } & Partial<FlatEncodings>) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`${tokenizerPath}: ${m.error}`));
      else p.resolve({ ids: m.ids!, offsets: m.offsets!, lengths: m.lengths! });
    });
    worker.on('error', (err) => fail(new Error(`tokenizer worker ${w} failed: ${err.message}`)));
    worker.on('exit', (code) => { if (!closed) fail(new Error(`tokenizer worker ${w} exited (code ${code})`)); });
    return worker;
  });
  return {
    // One chunk queued behind each running one keeps every worker busy while the caller appends.
    depth: 2 * n,
    encode(texts) {
      if (failure) return Promise.reject(failure);
      const id = nextId++;
      return new Promise<FlatEncodings>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        workers[id % n]!.postMessage({ id, texts });
      });
    },
    async close() {
      closed = true;
      for (const p of pending.values()) p.reject(new Error('tokenizer pool closed'));
      pending.clear();
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
