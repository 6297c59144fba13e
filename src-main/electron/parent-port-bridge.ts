/**
 * parent-port-bridge.ts: makes a utilityProcess look like a child_process.fork child to code that
 * talks through process.send / process.on('message') (training/worker.ts). Under utilityProcess
 * there is no process.send: messages arrive as 'message' events on process.parentPort (their
 * payload in event.data) and leave by parentPort.postMessage. The bridge installs
 *   process.send(m, ..., cb)  -> parentPort.postMessage(m), then cb(null) on the next tick
 *   process.connected         -> true (the worker checks it before sending)
 *   parentPort 'message' e    -> process.emit('message', e.data)
 * so the same worker.js runs under `lshlab train` (fork) and in the desktop app (utilityProcess).
 *
 * It does not load the worker (utility-worker.ts does) and does not import electron.
 */

/** The part of Electron's ParentPort the bridge uses. */
export interface ParentPortLike {
  on(event: 'message', listener: (e: { data: unknown }) => void): unknown;
  postMessage(message: unknown): void;
}

/** The part of `process` the bridge rewires. */
export interface BridgedProcess {
  send?: (...args: any[]) => boolean;
  connected?: boolean;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

export function bridgeParentPort(proc: BridgedProcess, port: ParentPortLike): void {
  proc.send = (message: unknown, ...rest: unknown[]): boolean => {
    port.postMessage(message);
    // process.send's callback may be its 2nd, 3rd or 4th argument; it is always the last function.
    const callback = rest.reverse().find((a): a is (err: Error | null) => void => typeof a === 'function');
    if (callback) process.nextTick(() => callback(null));
    return true;
  };
  Object.defineProperty(proc, 'connected', { value: true, configurable: true, writable: true, enumerable: true });
  port.on('message', (e) => {
    proc.emit('message', e.data);
  });
}
