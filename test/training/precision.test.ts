/**
 * precision.test.ts: the run setting --precision (issue 10) without a GPU: parsing and the
 * device rules of training/device.ts (fp32 everywhere, tf32 and bf16 on CUDA only; auto never
 * silently changes the precision), RunSpec validation and its mapping onto the
 * engine's TrainConfig, the API schema, and the demo's placement of CPU-only variants.
 * Fake CUDA statuses stand in for a GPU, as in device.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceError, precisionProblem, PRECISIONS, resolveDevice, type CudaStatus } from '../../src-main/training/device.js';
import { defaultSpec, SpecError, trainConfigOf, validateSpec } from '../../src-main/training/spec.js';
import { runSpecFields } from '../../src-main/api/run-spec-schema.js';
import { demoPlacement } from '../../src-main/cli/commands/demo.js';

const noDriver: CudaStatus = { compiled: true, available: false, reason: 'no NVIDIA driver (libcuda.so.1 not found)', message: '', devices: [] };
const oneGpu: CudaStatus = { compiled: true, available: true, reason: '', message: '', devices: [{ index: 0, name: 'NVIDIA H200' }] };
const env = (cuda: CudaStatus, precision?: string) => ({ cpuModel: 'Test CPU', cuda, ...(precision !== undefined ? { precision } : {}) });

test('precisionProblem: fp32, tf32 and bf16 are accepted; anything else is named', () => {
  assert.deepEqual([...PRECISIONS], ['fp32', 'tf32', 'bf16']);
  for (const p of PRECISIONS) assert.equal(precisionProblem(p), '');
  assert.doesNotMatch(precisionProblem('bf16'), /not implemented/);
  assert.match(precisionProblem('fp16'), /^unknown precision 'fp16' \(expected fp32, tf32 or bf16/);
});

test('resolveDevice: tf32 and bf16 are recorded on CUDA; fp32 stays the default everywhere', () => {
  assert.equal(resolveDevice('cpu', env(oneGpu)).precision, 'fp32');
  assert.equal(resolveDevice('cuda', env(oneGpu)).precision, 'fp32');
  assert.deepEqual(resolveDevice('cuda:0', env(oneGpu, 'tf32')), {
    device: 'cuda:0', name: 'NVIDIA H200', why: 'no other live run of this lab uses it', precision: 'tf32',
  });
  assert.equal(resolveDevice('auto', env(oneGpu, 'tf32')).precision, 'tf32');
  // bf16 is recorded on CUDA exactly like tf32.
  assert.deepEqual(resolveDevice('cuda:0', env(oneGpu, 'bf16')), {
    device: 'cuda:0', name: 'NVIDIA H200', why: 'no other live run of this lab uses it', precision: 'bf16',
  });
  assert.equal(resolveDevice('auto', env(oneGpu, 'bf16')).precision, 'bf16');
  assert.equal(resolveDevice('auto', env(noDriver, 'fp32')).precision, 'fp32');
});

test('resolveDevice: tf32 or bf16 wherever the run lands on the CPU is refused, naming --precision', () => {
  const refused = (req: string, e: ReturnType<typeof env> & { attention?: string }, re: RegExp) =>
    assert.throws(() => resolveDevice(req, e), (err: unknown) => err instanceof DeviceError && re.test(err.message), `${req} ${String(re)}`);
  refused('cpu', env(oneGpu, 'tf32'), /^--precision tf32 needs a CUDA device, and this run would train on the CPU \(--device cpu\); use --precision fp32$/);
  // auto would take the CPU: the reason is kept so the user sees why.
  refused('auto', env(noDriver, 'tf32'), /^--precision tf32 needs a CUDA device, .*\(CUDA unavailable: no NVIDIA driver/);
  refused('auto', { ...env(oneGpu, 'tf32'), attention: 'sinkhorn' }, /^--precision tf32 needs a CUDA device, .*sinkhorn/);
  // cuda without a device keeps its own reason.
  refused('cuda', env(noDriver, 'tf32'), /^CUDA unavailable: no NVIDIA driver/);
  refused('cpu', env(oneGpu, 'bf16'), /^--precision bf16 needs a CUDA device, and this run would train on the CPU \(--device cpu\); use --precision fp32$/);
  refused('auto', env(noDriver, 'bf16'), /^--precision bf16 needs a CUDA device, .*\(CUDA unavailable: no NVIDIA driver/);
  refused('auto', { ...env(oneGpu, 'bf16'), attention: 'sinkhorn' }, /^--precision bf16 needs a CUDA device, .*sinkhorn/);
  refused('cuda', env(noDriver, 'bf16'), /^CUDA unavailable: no NVIDIA driver/);
});

test('RunSpec.precision: validated naming the field, sent to the engine only when not fp32', () => {
  const base = defaultSpec({ task: 'mlm', dataset: 'synthetic:random', steps: 2 });
  assert.equal(validateSpec({ ...base, precision: 'tf32' }).precision, 'tf32');
  assert.equal(validateSpec({ ...base, precision: 'bf16' }).precision, 'bf16');
  for (const [bad, re] of [['fp16', /^precision: unknown precision 'fp16'/], ['int8', /^precision: unknown precision 'int8'/]] as const)
    assert.throws(() => validateSpec({ ...base, precision: bad as 'fp32' }), (e: unknown) => e instanceof SpecError && e.field === 'precision' && re.test(e.message));
  assert.equal(trainConfigOf({ ...base, device: 'cuda:0', precision: 'tf32' }, 2).precision, 'tf32');
  assert.equal(trainConfigOf({ ...base, device: 'cuda:0', precision: 'bf16' }, 2).precision, 'bf16');
  assert.equal(trainConfigOf({ ...base, precision: 'fp32' }, 2).precision, undefined);
  assert.equal(trainConfigOf(base, 2).precision, undefined);
});

test('API runSpecFields: precision fp32|tf32|bf16, anything else names the field', () => {
  for (const p of ['tf32', 'bf16']) assert.equal(runSpecFields.safeParse({ task: 'mlm', dataset: 'x', precision: p }).success, true);
  const bad = runSpecFields.safeParse({ task: 'mlm', dataset: 'x', precision: 'fp16' });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues[0]?.path, ['precision']);
});

test('demoPlacement: a variant without CUDA kernels drops to the CPU in fp32 with a note; the demo\'s keep the request', () => {
  const notes: string[] = [];
  const note = (l: string) => notes.push(l);
  assert.deepEqual(demoPlacement(note, undefined, undefined, 'sinkhorn'), {});
  assert.deepEqual(demoPlacement(note, 'cuda', 'tf32', 'exact'), { device: 'cuda', precision: 'tf32' });
  assert.deepEqual(demoPlacement(note, undefined, 'tf32', 'yoso'), { precision: 'tf32' });
  assert.deepEqual(demoPlacement(note, 'cuda:0', 'tf32', 'bert-lsh'), { device: 'cuda:0', precision: 'tf32' });
  assert.deepEqual(demoPlacement(note, undefined, 'bf16', 'exact'), { precision: 'bf16' });
  assert.deepEqual(notes, []);
  assert.deepEqual(demoPlacement(note, undefined, 'tf32', 'sinkhorn'), { device: 'cpu', precision: 'fp32' });
  assert.deepEqual(demoPlacement(note, 'cuda:0', undefined, 'sinkhorn'), { device: 'cpu' });
  assert.deepEqual(demoPlacement(note, undefined, 'bf16', 'sinkhorn'), { device: 'cpu', precision: 'fp32' });
  assert.equal(notes.length, 3);
  assert.match(notes[0]!, /^lshlab demo: sinkhorn on the CPU in fp32: attention 'sinkhorn' has no CUDA kernels/);
  assert.match(notes[1]!, /^lshlab demo: sinkhorn on the CPU: /);
  assert.match(notes[2]!, /^lshlab demo: sinkhorn on the CPU in fp32: /);
});
