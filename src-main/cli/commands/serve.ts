/**
 * `lshlab serve [--port P] [--host H] [--no-open] [--json] [--allow-path DIR ...]`: serves the
 * app (renderer + API + live events) over HTTP for a browser, e.g. through an SSH tunnel to a GPU
 * box. Prints exactly one line, `lshlab serve: http://HOST:PORT/?token=TOKEN` (--json: {url, host,
 * port, token}), opens the default browser unless --no-open, and runs until SIGINT/SIGTERM, when
 * the runs it hosts are cancelled (each keeps a checkpoint) and it exits 0.
 * The server itself is src-main/server/; the operations are src-main/api/.
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { defineCommand } from '../command.js';
import { createLabApi } from '../../api/lab-api.js';
import { DEFAULT_PORT, startServer } from '../../server/server.js';

/** Opens `url` in the default browser; failures are ignored (a headless box has none). */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd as string, args as string[], { detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // no browser opener: the printed URL is enough
  }
}

export const serveCommand = defineCommand({
  path: ['serve'],
  summary: 'serve the app over HTTP (browser UI, API, live events) with a token',
  usage: 'serve [--port P] [--host H] [--no-open] [--json] [--allow-path DIR ...]',
  details: [
    `Listens on 127.0.0.1:${DEFAULT_PORT} by default (--port 0 picks a free port) and prints one line with the URL`,
    'and its random token; every request must carry the token (the page keeps it in a cookie). From a laptop:',
    `ssh -L ${DEFAULT_PORT}:127.0.0.1:${DEFAULT_PORT} gpu-box 'npx lshlab serve --no-open', then open the printed URL locally.`,
    'Imports by path accept files under your home folder, the data directory and each --allow-path DIR;',
    'other files can be uploaded from the browser. Ctrl-C stops the server; runs it started are cancelled',
    'after their current step and keep a checkpoint.',
  ].join('\n'),
  flags: {
    port: { type: 'int', min: 0, max: 65535, default: DEFAULT_PORT, metavar: 'P', description: `port (default ${DEFAULT_PORT}; 0 = any free port)` },
    host: { type: 'string', default: '127.0.0.1', metavar: 'H', description: 'address to listen on (default 127.0.0.1: this machine only)' },
    'no-open': { type: 'boolean', description: 'do not open the default browser' },
    json: { type: 'boolean', description: 'print {"url","host","port","token"} as one JSON line' },
    'allow-path': { type: 'string', repeatable: true, metavar: 'DIR', description: 'also allow imports by path from DIR (repeatable)' },
  },
  async run(flags, ctx) {
    const dataDir = ctx.ensureDataDir().dir;
    const allowedRoots = [os.homedir(), dataDir, ...flags['allow-path'].map((d) => path.resolve(d))];
    const api = createLabApi({
      dataDir,
      allowedRoots,
      owner: `lshlab serve (pid ${process.pid} on ${os.hostname()})`,
      ...(ctx.globals.threads !== undefined ? { threads: ctx.globals.threads } : {}),
      log: (t) => ctx.note(t),
    });
    let server;
    try {
      server = await startServer({ api, host: flags.host, port: flags.port, log: (t) => ctx.note(t) });
    } catch (e) {
      await api.close();
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EADDRINUSE') throw new Error(`port ${flags.port} on ${flags.host} is in use (give --port P, or --port 0 for any free port)`);
      if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw new Error(`cannot listen on ${flags.host}: not an address of this machine`);
      throw e;
    }
    ctx.out(flags.json ? JSON.stringify({ url: server.url, host: server.host, port: server.port, token: server.token }) : `lshlab serve: ${server.url}`);
    if (!flags['no-open']) openBrowser(server.url);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    const hosted = api.localRuns().length;
    if (hosted > 0) ctx.note(`lshlab serve: stopping: cancelling ${hosted} run(s) after their current step (checkpoints are kept)`);
    await server.close();
    await api.close();
    return 0;
  },
});
