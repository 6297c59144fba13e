#!/usr/bin/env node
// `npm start`: the workbench. In the Electron desktop app when Electron's binary is installed,
// else in the browser through `lshlab serve` (which opens the default browser itself), after one
// line saying why. Arguments pass through: `npm start -- --data-dir ~/lab --threads 4`.
//   --browser                 use the browser even if Electron is installed (not passed on)
//   LSHLAB_START_DRY_RUN=1    print the decision as JSON and exit (tests, troubleshooting)
//
// It never loads the electron package: since Electron 42 `require('electron')` downloads the
// binary on first use, which must not happen by surprise (and cannot, offline). It reads what the
// package's own index.js reads instead: node_modules/electron/path.txt, naming the executable
// under node_modules/electron/dist/ (or under $ELECTRON_OVERRIDE_DIST_PATH).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export const NO_BINARY_MESSAGE =
  "lshlab: Electron's binary is not installed (run 'npx install-electron' on a networked machine); opening the workbench in your browser instead";

/**
 * The Electron executable if it is installed, checked without loading the electron package.
 * @returns {{ path: string } | { missing: string }}
 */
export function findElectronBinary({ root = ROOT, env = process.env, exists = fs.existsSync, readFile = (p) => fs.readFileSync(p, 'utf8') } = {}) {
  const pkgDir = path.join(root, 'node_modules', 'electron');
  if (!exists(path.join(pkgDir, 'package.json'))) return { missing: 'the electron package is not installed (npm install)' };
  const pathFile = path.join(pkgDir, 'path.txt');
  const relative = exists(pathFile) ? readFile(pathFile).trim() : '';
  if (env.ELECTRON_OVERRIDE_DIST_PATH) {
    const p = path.join(env.ELECTRON_OVERRIDE_DIST_PATH, relative || 'electron');
    return exists(p) ? { path: p } : { missing: `ELECTRON_OVERRIDE_DIST_PATH names ${p}, which does not exist` };
  }
  if (!relative) return { missing: "Electron's binary is not installed" };
  const p = path.join(pkgDir, 'dist', relative);
  return exists(p) ? { path: p } : { missing: `Electron's binary is not installed (${p} is missing)` };
}

/**
 * What `npm start` runs.
 * @returns {{ kind: 'electron', command: string, args: string[], binary: string }
 *         | { kind: 'browser', command: string, args: string[], reason: string, message: string }
 *         | { kind: 'error', message: string }}
 */
export function chooseStart({ root = ROOT, args = [], env = process.env, exists = fs.existsSync, readFile, execPath = process.execPath } = {}) {
  if (!exists(path.join(root, 'dist', 'src-main', 'cli', 'main.js')))
    return { kind: 'error', message: 'lshlab: the workbench is not built: run npm install (or npm run build) first' };
  const forceBrowser = args.includes('--browser');
  const passOn = args.filter((a) => a !== '--browser');
  const serve = { command: execPath, args: [path.join(root, 'bin', 'lshlab.js'), 'serve', ...passOn] };
  if (forceBrowser) return { kind: 'browser', ...serve, reason: '--browser', message: 'lshlab: opening the workbench in your browser (--browser)' };
  const binary = findElectronBinary({ root, env, exists, ...(readFile ? { readFile } : {}) });
  if ('missing' in binary) {
    const message = binary.missing === "Electron's binary is not installed" ? NO_BINARY_MESSAGE : `lshlab: ${binary.missing}; opening the workbench in your browser instead`;
    return { kind: 'browser', ...serve, reason: binary.missing, message };
  }
  const main = path.join(root, 'dist', 'src-main', 'electron', 'main.js');
  if (!exists(main))
    return { kind: 'browser', ...serve, reason: `${main} is missing`, message: `lshlab: the desktop app is not built (${main} is missing: npm run build); opening the workbench in your browser instead` };
  return { kind: 'electron', command: binary.path, args: [main, ...passOn], binary: binary.path };
}

/** Runs the choice; resolves with the exit code to leave with. */
export function runChoice(choice, { env = process.env } = {}) {
  if (choice.kind === 'error') {
    process.stderr.write(`${choice.message}\n`);
    return Promise.resolve(1);
  }
  if (choice.kind === 'browser') process.stderr.write(`${choice.message}\n`);
  const childEnv = { ...env };
  // Set by some tools (and by Electron for its own children); Electron would then run as plain Node.
  delete childEnv.ELECTRON_RUN_AS_NODE;
  const child = spawn(choice.command, choice.args, { stdio: 'inherit', env: childEnv });
  // Ctrl-C reaches the child directly (same process group): only forward what is sent to us alone.
  process.on('SIGINT', () => undefined);
  const forward = (signal) => () => child.kill(signal);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGHUP', forward('SIGHUP'));
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`lshlab: could not start ${choice.command}: ${err.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const choice = chooseStart({ args: process.argv.slice(2) });
  if (process.env.LSHLAB_START_DRY_RUN === '1') {
    process.stdout.write(`${JSON.stringify(choice)}\n`);
  } else {
    process.exitCode = await runChoice(choice);
  }
}
