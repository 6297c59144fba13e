#!/usr/bin/env node
// Builds the native side (lshlab.node and lshlab-native into build/Release/) with cmake-js.
// package.json's "binary.napi_versions" makes cmake-js use the Node-API headers of the
// node-api-headers package: nothing is downloaded. Extra arguments go to cmake-js, e.g.
//   node scripts/build-native.mjs --debug
// LSHLAB_SKIP_NATIVE=1 skips the build (for packaging steps that bring their own binaries).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.env.LSHLAB_SKIP_NATIVE === '1') {
  console.error('lshlab: LSHLAB_SKIP_NATIVE=1, not building the native addon');
  process.exit(0);
}
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(path.join(root, 'package.json'));
const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const jobs =
  process.env.CMAKE_BUILD_PARALLEL_LEVEL ||
  String(typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
const args = [cmakeJs, 'compile', '--directory', root, '--parallel', jobs, ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (r.error) {
  console.error(`lshlab: cannot run cmake-js: ${r.error.message}`);
  process.exit(1);
}
if (r.status !== 0) {
  console.error(
    'lshlab: building the native addon failed (needs cmake >= 3.18 and a C++17 compiler; see the output above)',
  );
}
process.exit(r.status ?? 1);
