#!/usr/bin/env node
// `npm test`: every suite of the project, in order, then ONE closing line `N passed, N failed`.
//
//   0. tsc             compile src-main/ and test/ to dist/ (so the tests never run stale JS)
//  0b. renderer        svelte-check of src-renderer/ (warnings fail), vite build to dist/renderer/
//   1. TypeScript      node --test on dist/test/**/*.test.js (spec reporter on the console,
//                      TAP to a temp file whose `# pass` / `# fail` summary is counted)
//   2. native          build/Release/lshlab-native test  (prints "N passed, N failed")
//  2b. CUDA emul.     native/cuda kernels compiled for the CPU, checked against float64 references
//   3. Python          test/reference/run.sh if present  (last line "N passed, N failed");
//                      LSHLAB_SKIP_PYTHON=1 skips it, visibly
//
// Skipped tests are listed with their reasons and counted in the closing line
// `N passed, N failed, N skipped`.
// Exit status is non-zero if any test failed or a suite could not run; a suite that could not
// run, or exited non-zero without reporting a failure, counts as one failure in the totals.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const exe = (name) => (process.platform === 'win32' ? `${name}.exe` : name);
const SUMMARY_RE = /^(?:\w+:\s*)?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$/;

const totals = { passed: 0, failed: 0 };
/** Skipped tests with their reasons: counted and listed at the end, never silent. */
const skips = [];
let skippedCount = 0;
const problems = [];

// Each suite's wall time goes on its `---` line: CI has a time budget (25 minutes) to keep.
let suiteStart = Date.now();
function banner(title) {
  suiteStart = Date.now();
  process.stdout.write(`\n=== ${title} ===\n`);
}

function record(suite, passed, failed, problem) {
  totals.passed += passed;
  totals.failed += failed;
  if (problem) {
    problems.push(`${suite}: ${problem}`);
    if (failed === 0) totals.failed += 1; // make the closing line agree with the exit status
  }
  const took = Math.round((Date.now() - suiteStart) / 1000);
  process.stdout.write(`--- ${suite}: ${passed} passed, ${failed} failed${problem ? ` (${problem})` : ''} in ${took} s\n`);
}

/** Runs a command, streaming its stdout and stderr live to the console and capturing stdout. */
function runTee(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    let stdout = '';
    let child;
    try {
      child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    } catch (error) {
      resolve({ status: null, signal: null, stdout: '', error });
      return;
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('error', (error) => resolve({ status: null, signal: null, stdout, error }));
    child.on('close', (status, signal) => resolve({ status, signal, stdout }));
  });
}

function lastSummary(text) {
  const lines = (text || '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = SUMMARY_RE.exec(lines[i]);
    if (m) return { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0), last: i === lines.length - 1 };
  }
  return null;
}

function findTests(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findTests(p));
    else if (e.isFile() && e.name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

// ---- 0. compile ----------------------------------------------------------------------------
banner('tsc');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
let compiled = true;
if (fs.existsSync(tsc)) {
  const r = await runTee(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')]);
  if (r.status !== 0) {
    compiled = false;
    record('tsc', 0, 0, `TypeScript compilation failed (exit ${r.status})`);
  } else {
    process.stdout.write('compiled src-main/ and test/ to dist/\n');
  }
} else {
  process.stdout.write('typescript not installed (npm ci --omit=dev?): using the existing dist/\n');
}

// ---- 0b. renderer: type-check the Svelte pages, rebuild dist/renderer/ (the e2e tests load it) ----
banner('renderer (svelte-check, vite build)');
{
  const svelteCheck = path.join(root, 'node_modules', 'svelte-check', 'bin', 'svelte-check');
  const vite = path.join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  if (!fs.existsSync(svelteCheck) || !fs.existsSync(vite)) {
    process.stdout.write('svelte-check or vite not installed (npm ci --omit=dev?): using the existing dist/renderer/\n');
  } else {
    const rendererDir = path.join(root, 'src-renderer');
    const c = await runTee(process.execPath, [svelteCheck, '--workspace', rendererDir, '--tsconfig', path.join(rendererDir, 'tsconfig.json'), '--fail-on-warnings']);
    const b = c.status === 0 ? await runTee(process.execPath, [vite, 'build', '--config', path.join(rendererDir, 'vite.config.ts'), '--logLevel', 'warn']) : null;
    if (c.status !== 0) record('renderer', 0, 1, `svelte-check found problems (exit ${c.status})`);
    else if (b && b.status !== 0) record('renderer', 1, 1, `vite build failed (exit ${b.status})`);
    else record('renderer', 2, 0);
  }
}

// ---- 1. TypeScript tests -------------------------------------------------------------------
banner('TypeScript tests (node --test)');
{
  const files = compiled ? findTests(path.join(root, 'dist', 'test')) : [];
  if (!compiled) {
    record('TypeScript', 0, 0, 'skipped: compilation failed');
  } else if (files.length === 0) {
    record('TypeScript', 0, 0, 'no compiled tests under dist/test (run npm run build)');
  } else {
    const tapFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-test-')), 'report.tap');
    const r = spawnSync(
      process.execPath,
      [
        '--test',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tapFile}`,
        ...files,
      ],
      { cwd: root, stdio: 'inherit' },
    );
    let tap = '';
    try {
      tap = fs.readFileSync(tapFile, 'utf8');
    } catch {
      // handled below
    }
    fs.rmSync(path.dirname(tapFile), { recursive: true, force: true });
    const count = (key) => {
      const m = new RegExp(`^# ${key} (\\d+)\\s*$`, 'm').exec(tap);
      return m ? Number(m[1]) : null;
    };
    // node --test writes a skipped test as `ok N - name # SKIP reason` (indented when nested).
    for (const m of tap.matchAll(/^\s*ok \d+ - (.*?) # SKIP\s*(.*)$/gm)) {
      skips.push(`TypeScript: ${m[1]}${m[2] ? ` (${m[2]})` : ''}`);
      skippedCount++;
    }
    const pass = count('pass');
    const fail = count('fail');
    const cancelled = count('cancelled') ?? 0;
    if (pass === null || fail === null) {
      record('TypeScript', 0, 0, `no test summary from node --test (exit ${r.status ?? r.signal})`);
    } else {
      const failed = fail + cancelled;
      const problem = r.status !== 0 && failed === 0 ? `node --test exited ${r.status ?? r.signal}` : undefined;
      record('TypeScript', pass, failed, problem);
    }
  }
}

// ---- 2. native suite -----------------------------------------------------------------------
banner('native tests (lshlab-native test)');
{
  const driver = path.join(root, 'build', 'Release', exe('lshlab-native'));
  if (!fs.existsSync(driver)) {
    record('native', 0, 0, `${path.relative(root, driver)} missing: run npm install (or npm run build:native)`);
  } else {
    const r = await runTee(driver, ['test']);
    const s = lastSummary(r.stdout);
    if (r.error) record('native', 0, 0, `cannot run: ${r.error.message}`);
    else if (!s) record('native', 0, 0, `no "N passed, N failed" line (exit ${r.status ?? r.signal})`);
    else {
      const problem = r.status !== 0 && s.failed === 0 ? `exited ${r.status ?? r.signal}` : undefined;
      if (s.skipped > 0) {
        // The driver lists each skip with its reason above its summary line.
        skips.push(`native: ${s.skipped} test(s) (reasons in the native output above: "skipped: ...")`);
        skippedCount += s.skipped;
      }
      record('native', s.passed, s.failed, problem);
    }
  }
}

// ---- 2b. CUDA kernels under host emulation ----------------------------------------------------
// No GPU here or in CI: native/cuda's kernels compiled for the CPU (one thread per CUDA thread)
// and checked against the float64 references; races, memory faults and speed need a GPU
// (bench/gpu-check.sh).
banner('CUDA kernels, host emulation (native/cuda/emulation/check.sh)');
{
  const script = path.join(root, 'native', 'cuda', 'emulation', 'check.sh');
  const driver = path.join(root, 'build', 'Release', exe('lshlab-native'));
  if (process.platform === 'win32' || !fs.existsSync(script) || !fs.existsSync(driver)) {
    process.stdout.write('SKIPPED: CUDA emulation (needs bash, the driver and native/cuda)\n');
    skips.push('CUDA emulation: not available on this platform or build');
    skippedCount++;
  } else {
    const r = await runTee('bash', [script, driver]);
    const s = lastSummary(r.stdout);
    if (r.error) record('CUDA emulation', 0, 0, `cannot run: ${r.error.message}`);
    else if (!s && r.status === 0 && /^skipped:/m.test(r.stdout)) {
      skips.push(`CUDA emulation: ${r.stdout.split('\n').find((l) => l.startsWith('skipped:'))}`);
      skippedCount++;
    } else if (!s) record('CUDA emulation', 0, 0, `no "N passed, N failed" line (exit ${r.status ?? r.signal})`);
    else record('CUDA emulation', s.passed, s.failed, r.status !== 0 && s.failed === 0 ? `exited ${r.status ?? r.signal}` : undefined);
  }
}

// ---- 3. Python reference suite ---------------------------------------------------------------
banner('Python reference tests (test/reference/run.sh)');
{
  const script = path.join(root, 'test', 'reference', 'run.sh');
  if (!fs.existsSync(script)) {
    process.stdout.write('test/reference/run.sh not present: no Python reference suite in this checkout\n');
  } else if (process.env.LSHLAB_SKIP_PYTHON === '1') {
    process.stdout.write('SKIPPED: Python reference suite (LSHLAB_SKIP_PYTHON=1)\n');
    skips.push('Python: the whole reference suite (LSHLAB_SKIP_PYTHON=1)');
    skippedCount++;
  } else {
    const r = await runTee('bash', [script], { env: { ...process.env, LSHLAB_ROOT: root } });
    const s = lastSummary(r.stdout);
    if (r.error) record('Python', 0, 0, `cannot run: ${r.error.message}`);
    else if (!s) record('Python', 0, 0, `no "N passed, N failed" line (exit ${r.status ?? r.signal})`);
    else {
      const problem = r.status !== 0 && s.failed === 0 ? `exited ${r.status ?? r.signal}` : undefined;
      if (s.skipped > 0) {
        skips.push(`Python: ${s.skipped} test(s) skipped (see the suite's output above)`);
        skippedCount += s.skipped;
      }
      record('Python', s.passed, s.failed, problem);
    }
  }
}

// ---- totals ------------------------------------------------------------------------------------
process.stdout.write('\n');
for (const p of problems) process.stdout.write(`problem: ${p}\n`);
for (const k of skips) process.stdout.write(`skipped: ${k}\n`);
process.stdout.write(`${totals.passed} passed, ${totals.failed} failed, ${skippedCount} skipped\n`);
process.exitCode = totals.failed > 0 || problems.length > 0 ? 1 : 0;
