/**
 * device.test.ts: the device resolver (training/device.ts) with fake CUDA statuses and live runs:
 * parsing of auto|cpu|cuda[:N], the rules (cuda fails with the loader's reason, a missing index
 * or an attention variant without CUDA kernels; auto takes a free GPU for exact attention and
 * the CPU otherwise, saying why), the form's choices, and RunSpec validation of `device`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cudaTrainingUnsupported, DeviceError, describeDevice, deviceChoices, deviceInfoOfRun, parseDeviceRequest,
  pickCudaDevice, resolveDevice, type CudaStatus,
} from '../../src-main/training/device.js';
import { defaultSpec, SpecError, validateSpec } from '../../src-main/training/spec.js';
import { runSpecFields } from '../../src-main/api/run-spec-schema.js';

const noDriver: CudaStatus = { compiled: true, available: false, reason: 'no NVIDIA driver (libcuda.so.1 not found)', message: '', devices: [] };
const notBuilt: CudaStatus = { compiled: false, available: false, reason: 'not built: nvcc not found', message: '', devices: [] };
const twoGpus: CudaStatus = {
  compiled: true, available: true, reason: '', message: '',
  devices: [{ index: 0, name: 'NVIDIA H200' }, { index: 1, name: 'NVIDIA H200' }],
};
const env = (cuda: CudaStatus | undefined) => ({ cpuModel: 'Test CPU', cuda });

test('parseDeviceRequest: auto, cpu, cuda, cuda:N; anything else is undefined', () => {
  assert.deepEqual(parseDeviceRequest('auto'), { kind: 'auto' });
  assert.deepEqual(parseDeviceRequest('cpu'), { kind: 'cpu' });
  assert.deepEqual(parseDeviceRequest('cuda'), { kind: 'cuda' });
  assert.deepEqual(parseDeviceRequest('cuda:3'), { kind: 'cuda', index: 3 });
  for (const bad of ['', 'gpu', 'cuda:', 'cuda:x', 'CPU', 'cuda:1:2', 'cuda:-1']) assert.equal(parseDeviceRequest(bad), undefined, bad);
});

test('resolveDevice: cpu is the CPU, named, fp32', () => {
  const d = resolveDevice('cpu', env(twoGpus));
  assert.deepEqual(d, { device: 'cpu', name: 'Test CPU', why: 'requested', precision: 'fp32' });
  assert.equal(describeDevice(d), 'device: cpu (requested) on Test CPU');
});

test('resolveDevice: auto takes the CPU and says why when CUDA cannot serve the run', () => {
  const a = resolveDevice('auto', env(noDriver));
  assert.equal(a.device, 'cpu');
  assert.equal(a.why, 'CUDA unavailable: no NVIDIA driver (libcuda.so.1 not found)');
  assert.match(describeDevice(a), /^device: cpu \(CUDA unavailable: no NVIDIA driver/);
  assert.equal(resolveDevice(undefined, env(notBuilt)).why, 'CUDA unavailable: not built: nvcc not found');
  assert.equal(resolveDevice('auto', env(undefined)).why, 'CUDA unavailable: the engine could not be loaded');
  // CUDA usable: every variant with CUDA kernels takes a free GPU; one without stays on the CPU and says why.
  const g = resolveDevice('auto', env(twoGpus), ['cuda:0']);
  assert.deepEqual(g, { device: 'cuda:1', name: 'NVIDIA H200', why: 'no other live run of this lab uses it', precision: 'fp32' });
  assert.equal(resolveDevice('auto', { ...env(twoGpus), attention: 'exact' }).device, 'cuda:0');
  assert.equal(resolveDevice('auto', { ...env(twoGpus), attention: 'yoso' }).device, 'cuda:0');
  assert.equal(resolveDevice('auto', { ...env(twoGpus), attention: 'bert-lsh' }).device, 'cuda:0');
  assert.equal(resolveDevice('auto', { ...env(twoGpus), attention: 'reformer' }).device, 'cuda:0');
  const y = resolveDevice('auto', { ...env(twoGpus), attention: 'sinkhorn' });
  assert.equal(y.device, 'cpu');
  assert.equal(y.why, "attention 'sinkhorn' has no CUDA kernels (exact, yoso, yoso-e, bert-lsh, reformer do)");
  // An old engine without available/reason: devices decide, message is the reason.
  assert.equal(resolveDevice('auto', env({ compiled: false, message: 'CUDA backend not built', devices: [] })).why, 'CUDA unavailable: CUDA backend not built');
});

test('resolveDevice: cuda fails with the loader reason, a missing index, or a variant without kernels', () => {
  assert.throws(() => resolveDevice('cuda', env(noDriver)), (e: unknown) => e instanceof DeviceError && e.message === 'CUDA unavailable: no NVIDIA driver (libcuda.so.1 not found)');
  assert.throws(() => resolveDevice('cuda:0', env(notBuilt)), /^DeviceError: CUDA unavailable: not built/);
  assert.throws(() => resolveDevice('cuda:7', env(twoGpus)), /no CUDA device 7 \(this machine has cuda:0, cuda:1\)/);
  assert.equal(resolveDevice('cuda:1', env(twoGpus), ['cuda:1']).device, 'cuda:1');
  for (const attention of ['sinkhorn', 'performer'])
    assert.throws(() => resolveDevice('cuda', { ...env(twoGpus), attention }),
      (e: unknown) => e instanceof DeviceError && e.message === `cannot run on CUDA: ${cudaTrainingUnsupported(attention)}; use --device cpu`);
  assert.throws(() => resolveDevice('cuda', { ...env(twoGpus), cudaUnsupported: 'a CPU benchmark' }), /^DeviceError: cannot run on CUDA: a CPU benchmark; use --device cpu$/);
  assert.equal(resolveDevice('auto', { ...env(twoGpus), cudaUnsupported: 'a CPU benchmark' }).why, 'a CPU benchmark');
  for (const ok of ['exact', 'yoso', 'yoso-e', 'bert-lsh', 'reformer']) assert.equal(cudaTrainingUnsupported(ok), '');
  assert.throws(() => resolveDevice('bogus', env(noDriver)), /unknown device 'bogus' \(expected auto, cpu, cuda or cuda:N\)/);
});

test('pickCudaDevice: prefers a device no live run uses, else the least shared; honours an index', () => {
  const devs = [{ index: 2, name: 'C' }, { index: 0, name: 'A' }, { index: 1, name: 'B' }];
  assert.deepEqual(pickCudaDevice(devs, []), { index: 0, name: 'A', sharedWith: 0 });
  assert.deepEqual(pickCudaDevice(devs, ['cpu', 'cuda:0', 'cpu']), { index: 1, name: 'B', sharedWith: 0 });
  assert.deepEqual(pickCudaDevice(devs, ['cuda:0', 'cuda:1']), { index: 2, name: 'C', sharedWith: 0 });
  assert.deepEqual(pickCudaDevice(devs, ['cuda:0', 'cuda:1', 'cuda:2', 'cuda:0', 'cuda:2']), { index: 1, name: 'B', sharedWith: 1 });
  assert.deepEqual(pickCudaDevice(devs, ['cuda:0', 'cuda:0'], 0), { index: 0, name: 'A', sharedWith: 2 });
  assert.equal(pickCudaDevice(devs, [], 5), undefined);
  assert.equal(pickCudaDevice([], ['cuda:0']), undefined);
});

test('deviceChoices: every CUDA device when usable, else auto and cpu with why', () => {
  assert.deepEqual(deviceChoices(noDriver), { options: ['auto', 'cpu'], cudaNote: 'CUDA unavailable: no NVIDIA driver (libcuda.so.1 not found)' });
  assert.deepEqual(deviceChoices(twoGpus), { options: ['auto', 'cpu', 'cuda:0', 'cuda:1'], cudaNote: null });
});

test('deviceInfoOfRun reads what the host records', () => {
  assert.equal(deviceInfoOfRun({ trainConfig: {} }), undefined);
  assert.deepEqual(deviceInfoOfRun({ trainConfig: { deviceInfo: { device: 'cpu', name: 'X' } } }), { device: 'cpu', name: 'X' });
});

test('RunSpec.device and the API schema accept auto|cpu|cuda[:N] only, naming the field', () => {
  const base = defaultSpec({ task: 'mlm', dataset: 'synthetic:random', steps: 2 });
  for (const d of ['auto', 'cpu', 'cuda', 'cuda:1']) assert.equal(validateSpec({ ...base, device: d }).device, d);
  assert.throws(() => validateSpec({ ...base, device: 'gpu' }), (e: unknown) => e instanceof SpecError && e.field === 'device');
  assert.equal(runSpecFields.safeParse({ task: 'mlm', dataset: 'x', device: 'cuda:0' }).success, true);
  const bad = runSpecFields.safeParse({ task: 'mlm', dataset: 'x', device: 'tpu' });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues[0]?.path, ['device']);
});
