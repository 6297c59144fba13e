/**
 * args.ts: a small typed argument parser for the lshlab commands.
 *
 * Flags are `--name value` or `--name=value`; booleans are `--name` (or `--name=true|false`).
 * Each command declares its flags in a spec; unknown flags, missing values and bad values raise a
 * UsageError naming the flag, which main.ts turns into exit code 2.
 */

export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose usage to point at, e.g. "bench gemm". */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

interface FlagBase {
  description: string;
  /** Placeholder shown in help, e.g. "N". */
  metavar?: string;
}
export interface BooleanFlag extends FlagBase {
  type: 'boolean';
}
export interface IntFlag extends FlagBase {
  type: 'int';
  default?: number;
  min?: number;
  max?: number;
  required?: boolean;
}
export interface NumberFlag extends FlagBase {
  type: 'number';
  default?: number;
  min?: number;
  max?: number;
  required?: boolean;
}
export interface StringFlag extends FlagBase {
  type: 'string';
  default?: string;
  required?: boolean;
  choices?: readonly string[];
  /** May be given more than once; the value is then the list of values in order ([] if absent). */
  repeatable?: boolean;
}
export type FlagSpec = BooleanFlag | IntFlag | NumberFlag | StringFlag;
export type FlagSpecs = Record<string, FlagSpec>;

/** The parsed value type of one flag spec. */
type ValueOf<F extends FlagSpec> = F extends BooleanFlag
  ? boolean
  : F extends IntFlag | NumberFlag
    ? F extends { default: number } | { required: true }
      ? number
      : number | undefined
    : F extends StringFlag
      ? F extends { repeatable: true }
        ? string[]
        : F extends { default: string } | { required: true }
          ? string
          : string | undefined
      : never;

export type ParsedFlags<S extends FlagSpecs> = { [K in keyof S]: ValueOf<S[K]> };

export interface Parsed<S extends FlagSpecs> {
  flags: ParsedFlags<S>;
  positionals: string[];
  help: boolean;
}

const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function convert(name: string, spec: FlagSpec, raw: string, command?: string): boolean | number | string {
  const bad = (why: string): never => {
    throw new UsageError(`invalid value for --${name}: '${raw}' (${why})`, command);
  };
  switch (spec.type) {
    case 'boolean': {
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return bad('expected true or false');
    }
    case 'int':
    case 'number': {
      const isInt = spec.type === 'int';
      if (!(isInt ? INT_RE : NUM_RE).test(raw.trim())) bad(isInt ? 'expected an integer' : 'expected a number');
      const v = Number(raw);
      if (!Number.isFinite(v) || (isInt && !Number.isSafeInteger(v))) bad('out of range');
      if (spec.min !== undefined && v < spec.min) bad(`must be >= ${spec.min}`);
      if (spec.max !== undefined && v > spec.max) bad(`must be <= ${spec.max}`);
      return v;
    }
    case 'string': {
      if (spec.choices && !spec.choices.includes(raw)) bad(`expected one of ${spec.choices.join(', ')}`);
      return raw;
    }
  }
}

/**
 * Parses argv (the tokens after the command words) against `specs`. `--help`/`-h` is always
 * accepted. `--` ends flag parsing. Positionals are collected only if `maxPositionals` allows.
 */
export function parseArgs<S extends FlagSpecs>(
  specs: S,
  argv: readonly string[],
  opts: { command?: string; maxPositionals?: number } = {},
): Parsed<S> {
  const values: Record<string, boolean | number | string | string[] | undefined> = {};
  const positionals: string[] = [];
  let help = false;
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i] as string;
    if (onlyPositionals || !tok.startsWith('-') || tok === '-') {
      positionals.push(tok);
      continue;
    }
    if (tok === '--') {
      onlyPositionals = true;
      continue;
    }
    if (tok === '--help' || tok === '-h') {
      help = true;
      continue;
    }
    if (!tok.startsWith('--')) throw new UsageError(`unknown option '${tok}' (flags are written --name)`, opts.command);
    const eq = tok.indexOf('=');
    const name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
    const spec = Object.prototype.hasOwnProperty.call(specs, name) ? specs[name] : undefined;
    if (!spec) {
      const where = opts.command ? ` for '${opts.command}'` : '';
      throw new UsageError(`unknown flag --${name}${where}`, opts.command);
    }
    const repeat = spec.type === 'string' && spec.repeatable === true;
    if (name in values && !repeat) throw new UsageError(`--${name} given more than once`, opts.command);
    let raw: string;
    if (eq >= 0) {
      raw = tok.slice(eq + 1);
    } else if (spec.type === 'boolean') {
      values[name] = true;
      continue;
    } else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new UsageError(`--${name} needs a value`, opts.command);
      }
      raw = next;
      i++;
    }
    const value = convert(name, spec, raw, opts.command);
    values[name] = repeat ? [...((values[name] as string[] | undefined) ?? []), value as string] : value;
  }
  const max = opts.maxPositionals ?? 0;
  if (positionals.length > max) {
    throw new UsageError(`unexpected argument '${positionals[max]}'`, opts.command);
  }
  if (!help) {
    for (const [name, spec] of Object.entries(specs)) {
      if (values[name] !== undefined) continue;
      if (spec.type === 'boolean') values[name] = false;
      else if (spec.type === 'string' && spec.repeatable) values[name] = [];
      else if (spec.default !== undefined) values[name] = spec.default;
      else if (spec.required) throw new UsageError(`missing required flag --${name}`, opts.command);
    }
  }
  return { flags: values as ParsedFlags<S>, positionals, help };
}

/** Help text for a flag table, aligned. */
export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const meta = s.type === 'boolean' ? '' : ` ${s.metavar ?? (s.type === 'string' ? 'VALUE' : 'N')}`;
    let desc = s.description;
    if (s.type !== 'boolean' && s.default !== undefined) desc += ` (default ${s.default})`;
    if (s.type !== 'boolean' && s.required) desc += ' (required)';
    if (s.type === 'string' && s.repeatable) desc += ' (repeatable)';
    return [`--${name}${meta}`, desc] as const;
  });
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([l, r]) => `  ${l.padEnd(w)}  ${r}`).join('\n');
}
