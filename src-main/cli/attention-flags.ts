/**
 * attention-flags.ts: the command-line shorthands for attention variant parameters, shared by
 * `bench attention` and `train`: `--bands 2` means the variant parameter bands=2, and
 * `--param name=value` (repeatable) passes any parameter by its engine name. The variant itself
 * validates values and rejects parameters it does not know, naming them. Ranges and choices are
 * those of api/attention-params.ts, the table the API contract validates run specs with.
 */
import { UsageError } from './args.js';
import { attentionParam } from '../api/attention-params.js';

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

/** The flag spec of an integer parameter: range and description from the shared table. */
const int = (flag: keyof typeof PARAM_FLAGS) => {
  const d = attentionParam(PARAM_FLAGS[flag]);
  if (d.type !== 'int') throw new Error(`attention parameter ${d.name} is not an integer`);
  return { type: 'int', min: d.min, max: d.max, metavar: 'N', description: d.description } as const;
};
/** The flag spec of a choice parameter: choices and description from the shared table. */
const choice = (flag: keyof typeof PARAM_FLAGS) => {
  const d = attentionParam(PARAM_FLAGS[flag]);
  if (d.type !== 'choice') throw new Error(`attention parameter ${d.name} is not a choice`);
  return { type: 'string', choices: d.choices, metavar: d.choices.join('|'), description: d.description } as const;
};

/** Ranges and choices come from api/attention-params.ts (the API contract uses the same table). */
export const ATTENTION_PARAM_FLAG_SPECS = {
  bands: int('bands'),
  'table-size': int('table-size'),
  'num-hashes': int('num-hashes'),
  fill: choice('fill'),
  symmetric: choice('symmetric'),
  combine: choice('combine'),
  reseed: choice('reseed'),
  tau: int('tau'),
  'num-hash': int('num-hash'),
  'conv-window': int('conv-window'),
  'yoso-backward': choice('yoso-backward'),
  'num-buckets': int('num-buckets'),
  'chunk-length': int('chunk-length'),
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
