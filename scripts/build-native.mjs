#!/usr/bin/env node
// Builds the native side (lshlab.node and lshlab-native into build/Release/) with cmake-js.
// package.json's "binary.napi_versions" makes cmake-js use the Node-API headers of the
// node-api-headers package: nothing is downloaded. Extra arguments go to cmake-js, e.g.
//   node scripts/build-native.mjs --debug
// LSHLAB_SKIP_NATIVE=1 skips the build (for packaging steps that bring their own binaries).
//
// CUDA: native/cuda (liblshlab_cuda, loaded by the engine at run time) is built when CMake finds
// nvcc and cuBLASLt: the CUDA toolkit's, or the nvidia-cublas wheel named by LSHLAB_CUBLAS_ROOT
// (its nvidia/cu13 folder; default: ~/.cache/lshlab-cublas/nvidia/cu13 when present, where
// .ci/run installs it). Otherwise it is skipped, and the build says so in one line.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
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
const defaultCublas = path.join(os.homedir(), '.cache', 'lshlab-cublas', 'nvidia', 'cu13');
if (!process.env.LSHLAB_CUBLAS_ROOT && fs.existsSync(path.join(defaultCublas, 'include', 'cublasLt.h'))) {
  process.env.LSHLAB_CUBLAS_ROOT = defaultCublas;
}
const args = [cmakeJs, 'compile', '--directory', root, '--parallel', jobs, ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (r.error) {
  console.error(`lshlab: cannot run cmake-js: ${r.error.message}`);
  process.exit(1);
}
// The CUDA backend's outcome, written by native/CMakeLists.txt at configure time.
const config = process.argv.includes('--debug') || process.argv.includes('-D') ? 'Debug' : 'Release';
const cudaStatus = path.join(root, 'build', config, 'lshlab_cuda.status');
if (r.status === 0 && fs.existsSync(cudaStatus)) {
  const line = fs.readFileSync(cudaStatus, 'utf8').trim();
  console.error(
    line === 'built'
      ? `lshlab: CUDA backend built (build/${config}; loaded at run time, see \`lshlab info\`)`
      : `lshlab: CUDA backend ${line}`,
  );
}
if (r.status !== 0) {
  console.error(
    'lshlab: building the native addon failed (needs cmake >= 3.18 and a C++17 compiler; see the output above)',
  );
}
process.exit(r.status ?? 1);
