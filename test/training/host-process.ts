/**
 * host-process.ts: a run host in a process of its own, for the tests that kill a host: it opens
 * the lab at argv[2] as host, starts a long synthetic run and prints "step N" lines, then waits
 * to be killed.
 */
import { openStore, storePath } from '../../src-main/store/index.js';
import { RunHost } from '../../src-main/training/host.js';
import { tinySpec } from './helpers.js';

const dir = process.argv[2]!;
const store = openStore(storePath(dir));
const host = new RunHost(store, dir, { threads: 1, flushMs: 20 });
const h = host.start(tinySpec({ steps: 1000000, name: 'orphan' }));
process.stdout.write(`run ${h.run.id} worker ${h.pid}\n`);
const timer = setInterval(() => {
  const s = store.runs.get(h.run.id);
  process.stdout.write(`step ${s?.lastStep ?? 0}\n`);
}, 50);
void h.done.then(() => clearInterval(timer));
