/**
 * utility-bench.ts: the entry point of the desktop app's benchmark utilityProcess (main.ts passes
 * a launcher of it to the lab API, run-launcher.ts UTILITY_BENCH_PATH). Like utility-worker.ts it
 * bridges process.parentPort to process.send / process.on('message'), then loads the ordinary
 * benchmark process, lab/bench-child.js, unchanged.
 */
import { bridgeParentPort, type ParentPortLike } from './parent-port-bridge.js';

// Electron types process.parentPort as always present; it exists only inside a utility process.
const parentPort = (process as { parentPort?: ParentPortLike | null }).parentPort;
if (parentPort) bridgeParentPort(process as never, parentPort);

// Loaded after the bridge is in place: the benchmark process registers process.on('message') at load.
require('../lab/bench-child.js');
