/**
 * datadir.ts: the lab data directory (datasets, token caches, runs, the store).
 *
 * Resolution order: the --data-dir flag, else env LSHLAB_DATA_DIR, else the OS per-user app data
 * folder:
 *   Linux (and other Unix): $XDG_DATA_HOME/lshlab, else ~/.local/share/lshlab
 *   macOS:                  ~/Library/Application Support/lshlab
 *   Windows:                %APPDATA%\lshlab, else ~\AppData\Roaming\lshlab
 * The directory is created on first use (ensureDataDir), never by merely resolving it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type DataDirSource = 'flag' | 'env' | 'default';

export interface DataDirInputs {
  /** Value of --data-dir, if given. */
  flag?: string | undefined;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  homedir?: string;
  cwd?: string;
}

export interface ResolvedDataDir {
  dir: string;
  source: DataDirSource;
}

/** The OS per-user application data folder for lshlab (not created). */
export function defaultDataDir(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  homedir: string = os.homedir(),
): string {
  const p = platform === 'win32' ? path.win32 : path.posix;
  if (platform === 'win32') {
    const appData = env['APPDATA'];
    return appData ? p.join(appData, 'lshlab') : p.join(homedir, 'AppData', 'Roaming', 'lshlab');
  }
  if (platform === 'darwin') return p.join(homedir, 'Library', 'Application Support', 'lshlab');
  const xdg = env['XDG_DATA_HOME'];
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && p.isAbsolute(xdg)) return p.join(xdg, 'lshlab');
  return p.join(homedir, '.local', 'share', 'lshlab');
}

/** Resolves the data directory without touching the disk. */
export function resolveDataDir(inputs: DataDirInputs = {}): ResolvedDataDir {
  const env = inputs.env ?? process.env;
  const platform = inputs.platform ?? process.platform;
  const cwd = inputs.cwd ?? process.cwd();
  const p = platform === 'win32' ? path.win32 : path.posix;
  const expand = (v: string): string => {
    const home = inputs.homedir ?? os.homedir();
    const t = v === '~' ? home : v.startsWith('~/') ? p.join(home, v.slice(2)) : v;
    return p.resolve(cwd, t);
  };
  if (inputs.flag !== undefined) {
    if (inputs.flag.trim() === '') throw new Error('--data-dir must not be empty');
    return { dir: expand(inputs.flag), source: 'flag' };
  }
  const fromEnv = env['LSHLAB_DATA_DIR'];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return { dir: expand(fromEnv), source: 'env' };
  return { dir: defaultDataDir(platform, env, inputs.homedir ?? os.homedir()), source: 'default' };
}

/** Resolves the data directory and creates it (with parents) if needed. */
export function ensureDataDir(inputs: DataDirInputs = {}): ResolvedDataDir {
  const r = resolveDataDir(inputs);
  try {
    fs.mkdirSync(r.dir, { recursive: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot create the lab data directory ${r.dir} (from ${r.source}): ${msg}`);
  }
  if (!fs.statSync(r.dir).isDirectory()) {
    throw new Error(`the lab data directory ${r.dir} (from ${r.source}) exists but is not a directory`);
  }
  return r;
}
