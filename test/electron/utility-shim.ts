/**
 * utility-shim.ts: plays the child side of Electron's utilityProcess in a plain Node child (forked
 * by run-launcher.test.ts): it gives the process a `parentPort` (messages in as {data} events,
 * out by postMessage) carried over fork's IPC channel, hides nothing else, then loads the entry
 * named by argv[2] (utility-worker.js). Envelope on the wire: {toPort: m} in, {fromPort: m} out,
 * so raw fork messages and parentPort messages cannot be confused.
 * Not Electron: it checks our bridge and the real worker, not Electron's parentPort.
 */
import { EventEmitter } from 'node:events';

const realSend = process.send!.bind(process);
const port = Object.assign(new EventEmitter(), {
  postMessage: (m: unknown) => void realSend({ fromPort: m }),
});
process.on('message', (m: unknown) => {
  if (m && typeof m === 'object' && 'toPort' in m) port.emit('message', { data: (m as { toPort: unknown }).toPort, ports: [] });
});
(process as unknown as { parentPort: unknown }).parentPort = port;
require(process.argv[2]!);
