/**
 * utility-worker.ts: the entry point of a training run's utilityProcess (run-launcher.ts forks
 * it). It bridges process.parentPort to process.send / process.on('message') (parent-port-bridge.ts)
 * and then loads the ordinary training process, training/worker.js, unchanged.
 *
 * Started any other way (plain `node utility-worker.js`, fork) there is no parentPort: it loads
 * the worker as is, which then talks over fork's IPC channel like always.
 */
import { bridgeParentPort, type ParentPortLike } from './parent-port-bridge.js';

// Electron types process.parentPort as always present; it exists only inside a utility process.
const parentPort = (process as { parentPort?: ParentPortLike | null }).parentPort;
if (parentPort) bridgeParentPort(process as never, parentPort);

// Loaded after the bridge is in place: the worker registers process.on('message') at load.
require('../training/worker.js');
