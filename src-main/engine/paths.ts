/**
 * paths.ts: where the package lives on disk (the folder holding lshlab's package.json), found by
 * walking up from this file, so it works from src-main (ts-node style) and dist/src-main alike.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cachedRoot: string | undefined;

export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        const name = (JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: unknown }).name;
        if (name === 'lshlab') return (cachedRoot = dir);
      } catch {
        // not ours; keep walking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find lshlab's package.json above ${__dirname}`);
    dir = parent;
  }
}

export function packageVersion(): string {
  const pj = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as {
    version?: string;
  };
  return pj.version ?? '0.0.0';
}

/** Folder holding lshlab.node and lshlab-native. LSHLAB_NATIVE_DIR overrides (packaged apps). */
export function nativeDir(): string {
  const override = process.env['LSHLAB_NATIVE_DIR'];
  if (override) return path.resolve(override);
  return path.join(packageRoot(), 'build', 'Release');
}

export function addonPath(): string {
  return path.join(nativeDir(), 'lshlab.node');
}

export function nativeDriverPath(): string {
  return path.join(nativeDir(), process.platform === 'win32' ? 'lshlab-native.exe' : 'lshlab-native');
}
