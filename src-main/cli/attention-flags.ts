/**
 * attention-flags.ts: the command-line shorthands for attention variant parameters, shared by
 * `bench attention` and `train`: `--bands 2` means the variant parameter bands=2, and
 * `--param name=value` (repeatable) passes any parameter by its engine name. The variant itself
 * validates values and rejects parameters it does not know, naming them.
 */
import { UsageError } from './args.js';

/** Shorthand flags -> variant parameter names (the variant validates values and rejects strays). */
export const PARAM_FLAGS = {
  bands: 'bands',
  'table-size': 'table_size',
  'num-hashes': 'num_hashes',
  fill: 'fill',
  symmetric: 'symmetric',
  combine: 'combine',
  reseed: 'reseed',
  tau: 'tau',
  'num-hash': 'num_hash',
  'conv-window': 'conv_window',
  'num-buckets': 'num_buckets',
  'chunk-length': 'chunk_length',
  'yoso-backward': 'backward',
} as const;

const int = (description: string, min: number, max: number) => ({ type: 'int', min, max, metavar: 'N', description }) as const;
const choice = (description: string, choices: readonly string[]) =>
  ({ type: 'string', choices, metavar: choices.join('|'), description }) as const;

export const ATTENTION_PARAM_FLAG_SPECS = {
  bands: int('bert-lsh: hyperplanes per hash function', 1, 64),
  'table-size': int('bert-lsh: bucket range m', 1, 1 << 30),
  'num-hashes': int('bert-lsh / reformer: hash functions (rounds)', 1, 1024),
  fill: choice('bert-lsh: non-colliding logits', ['zero', 'masked']),
  symmetric: choice('bert-lsh: transposed fill of the paper, or none', ['transposed-fill', 'none']),
  combine: choice('bert-lsh: collide in any (or) or all (and) hash functions', ['or', 'and']),
  reseed: choice('bert-lsh: hashes redrawn per call or fixed', ['per-call', 'fixed']),
  tau: int('yoso: hash bits', 1, 30),
  'num-hash': int('yoso: hash functions m', 1, 1024),
  'conv-window': int('yoso: depthwise conv window on V (0 = none)', 0, 4095),
  'yoso-backward': choice('yoso: backward', ['surrogate', 'exact']),
  'num-buckets': int('reformer: buckets', 2, 1 << 16),
  'chunk-length': int('reformer: chunk length', 1, 16384),
  param: { type: 'string', repeatable: true, metavar: 'name=value', description: 'a variant parameter by its engine name' },
} as const;

/** Variant parameters from --param and the shorthands; `command` names the command in errors. */
export function collectAttentionParams(flags: Record<string, unknown>, command: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const kv of (flags['param'] as string[] | undefined) ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid value for --param: '${kv}' (expected name=value)`, command);
    params[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  for (const [flag, name] of Object.entries(PARAM_FLAGS)) {
    const v = flags[flag];
    if (v !== undefined) params[name] = String(v);
  }
  return params;
}
