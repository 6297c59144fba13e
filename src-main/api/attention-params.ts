/**
 * attention-params.ts: the one table of attention variants and their parameters (engine name,
 * command-line flag, type, range or choices, default, which variants take it), and the check of a
 * variant's parameters against it. The CLI's flags (cli/attention-flags.ts), the API contract
 * (api/contract.ts) and the New-run form (through the `defaults` operation) all read it, so a
 * range is written once. The ranges are the native engine's own (native/engine/attention/*.cc
 * param_int / param_choice calls), which stays the final judge.
 *
 * Imports nothing (the renderer bundles it). It does not parse flags or talk to the engine.
 */

export const ATTENTION_VARIANTS = ['exact', 'bert-lsh', 'yoso-e', 'yoso', 'reformer'] as const;
export type AttentionVariant = (typeof ATTENTION_VARIANTS)[number];

interface ParamBase {
  /** The engine's parameter name (RunSpec.attentionParams key, `--param name=value`). */
  name: string;
  /** The shorthand flag of `train` / `bench attention`, if it has one. */
  flag?: string;
  description: string;
  variants: readonly AttentionVariant[];
}
export interface IntParamDef extends ParamBase {
  type: 'int';
  min: number;
  max: number;
  default: number | 'auto';
  /** Extra rule the engine applies: 'odd-or-zero' (yoso conv_window), 'even' (reformer num_buckets). */
  rule?: 'odd-or-zero' | 'even';
  /** A string the engine also accepts instead of a number (reformer num_buckets: 'auto'). */
  alsoAccepts?: string;
}
export interface ChoiceParamDef extends ParamBase {
  type: 'choice';
  choices: readonly string[];
  default: string;
}
export type AttentionParamDef = IntParamDef | ChoiceParamDef;

const yosos = ['yoso-e', 'yoso'] as const;

export const ATTENTION_PARAMS: readonly AttentionParamDef[] = [
  { name: 'bands', flag: 'bands', type: 'int', min: 1, max: 64, default: 2, variants: ['bert-lsh'], description: 'bert-lsh: hyperplanes per hash function' },
  { name: 'table_size', flag: 'table-size', type: 'int', min: 1, max: 1 << 30, default: 64, variants: ['bert-lsh'], description: 'bert-lsh: bucket range m' },
  { name: 'num_hashes', flag: 'num-hashes', type: 'int', min: 1, max: 64, default: 1, variants: ['bert-lsh', 'reformer'], description: 'bert-lsh / reformer: hash functions (rounds)' },
  { name: 'fill', flag: 'fill', type: 'choice', choices: ['zero', 'masked'], default: 'zero', variants: ['bert-lsh'], description: 'bert-lsh: non-colliding logits' },
  { name: 'symmetric', flag: 'symmetric', type: 'choice', choices: ['transposed-fill', 'none'], default: 'transposed-fill', variants: ['bert-lsh'], description: 'bert-lsh: transposed fill of the paper, or none' },
  { name: 'combine', flag: 'combine', type: 'choice', choices: ['or', 'and'], default: 'or', variants: ['bert-lsh'], description: 'bert-lsh: collide in any (or) or all (and) hash functions' },
  { name: 'reseed', flag: 'reseed', type: 'choice', choices: ['per-call', 'fixed'], default: 'per-call', variants: ['bert-lsh'], description: 'bert-lsh: hashes redrawn per call or fixed' },
  { name: 'tau', flag: 'tau', type: 'int', min: 1, max: 30, default: 9, variants: yosos, description: 'yoso: hash bits' },
  { name: 'num_hash', flag: 'num-hash', type: 'int', min: 1, max: 1024, default: 64, variants: yosos, description: 'yoso: hash functions m' },
  { name: 'conv_window', flag: 'conv-window', type: 'int', min: 0, max: 4095, default: 0, rule: 'odd-or-zero', variants: yosos, description: 'yoso: depthwise conv window on V (0 = none)' },
  { name: 'backward', flag: 'yoso-backward', type: 'choice', choices: ['surrogate', 'exact'], default: 'surrogate', variants: yosos, description: 'yoso: backward' },
  { name: 'num_buckets', flag: 'num-buckets', type: 'int', min: 2, max: 1 << 16, default: 'auto', rule: 'even', alsoAccepts: 'auto', variants: ['reformer'], description: 'reformer: buckets' },
  { name: 'chunk_length', flag: 'chunk-length', type: 'int', min: 1, max: 16384, default: 64, variants: ['reformer'], description: 'reformer: chunk length' },
  { name: 'num_chunks_before', type: 'int', min: 0, max: 64, default: 1, variants: ['reformer'], description: 'reformer: neighbouring chunks attended before' },
  { name: 'num_chunks_after', type: 'int', min: 0, max: 64, default: 0, variants: ['reformer'], description: 'reformer: neighbouring chunks attended after' },
];

/** The definition of engine parameter `name` (throws for a name not in the table: a programming error). */
export function attentionParam(name: string): AttentionParamDef {
  const d = ATTENTION_PARAMS.find((p) => p.name === name);
  if (!d) throw new Error(`attention parameter '${name}' is not in ATTENTION_PARAMS`);
  return d;
}

/** The parameters variant `v` accepts, in table order. */
export function paramsOfVariant(v: string): AttentionParamDef[] {
  return ATTENTION_PARAMS.filter((p) => (p.variants as readonly string[]).includes(v));
}

export interface AttentionParamIssue {
  /** The parameter at fault (engine name), or '' for the variant itself. */
  param: string;
  message: string;
}

/** The engine's reading of an integer parameter: decimal digits only (param_int rejects "2.5", "1e3"). */
function asInt(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? v : undefined;
  return /^[+-]?\d{1,12}$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

/** Everything wrong with `params` for `variant` (unknown variant, unknown parameter, bad value); [] if fine. */
export function checkAttentionParams(variant: string, params: Readonly<Record<string, string | number>>): AttentionParamIssue[] {
  if (!(ATTENTION_VARIANTS as readonly string[]).includes(variant))
    return [{ param: '', message: `unknown attention variant '${variant}' (one of ${ATTENTION_VARIANTS.join(', ')})` }];
  const accepted = paramsOfVariant(variant);
  const issues: AttentionParamIssue[] = [];
  for (const [name, value] of Object.entries(params)) {
    const def = accepted.find((p) => p.name === name);
    if (!def) {
      const known = accepted.map((p) => p.name).join(', ');
      issues.push({ param: name, message: `${variant} takes no parameter '${name}'${known ? ` (it takes ${known})` : ' (it takes none)'}` });
      continue;
    }
    if (def.type === 'choice') {
      if (!def.choices.includes(String(value))) issues.push({ param: name, message: `must be one of ${def.choices.join(', ')}, got '${String(value)}'` });
      continue;
    }
    if (def.alsoAccepts !== undefined && value === def.alsoAccepts) continue;
    const n = asInt(value);
    if (n === undefined) issues.push({ param: name, message: `must be an integer, got '${String(value)}'` });
    else if (n < def.min || n > def.max) issues.push({ param: name, message: `must be in ${def.min}..${def.max}, got ${n}` });
    else if (def.rule === 'odd-or-zero' && n !== 0 && n % 2 === 0) issues.push({ param: name, message: `must be odd or 0 (off), got ${n}` });
    else if (def.rule === 'even' && n % 2 !== 0) issues.push({ param: name, message: `must be even${def.alsoAccepts ? ` or '${def.alsoAccepts}'` : ''}, got ${n}` });
  }
  return issues;
}
