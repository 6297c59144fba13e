/**
 * main.ts: the `lshlab` command line. Finds the command words, parses the command's flags (plus
 * the global ones, accepted anywhere), runs it and maps failures to exit codes:
 *   0 success, 1 failure (a check failed, the engine threw), 2 usage error.
 */
import { formatFlags, parseArgs, UsageError, type FlagSpecs } from './args.js';
import { checkPositionals, Context, GLOBAL_FLAGS, type Command, type GlobalFlags, type Output } from './command.js';
import { infoCommand } from './commands/info.js';
import { checkCommand } from './commands/check.js';
import { benchGemmCommand } from './commands/bench-gemm.js';
import { benchTrainCommand } from './commands/bench-train.js';
import { benchAttentionCommand } from './commands/bench-attention.js';
import { RUNS_COMMANDS } from './commands/runs.js';
import { trainCommand } from './commands/train.js';
import { demoCommand } from './commands/demo.js';
import { benchMetricsCommand } from './commands/bench-metrics.js';
import { benchStoreCommand } from './commands/bench-store.js';
import { benchUiCommand } from './commands/bench-ui.js';
import { benchmarksListCommand } from './commands/benchmarks.js';
import { datasetsImportCommand } from './commands/datasets-import.js';
import { datasetsListCommand } from './commands/datasets-list.js';
import { datasetsShowCommand } from './commands/datasets-show.js';
import { datasetsRmCommand } from './commands/datasets-rm.js';
import { datasetsAddBuiltinCommand } from './commands/datasets-add-builtin.js';
import { tokenizerTrainCommand } from './commands/tokenizer-train.js';
import { tokenizerListCommand } from './commands/tokenizer-list.js';
import { tokenizerImportCommand } from './commands/tokenizer-import.js';
import { benchDatasetsCommand } from './commands/bench-datasets.js';
import { serveCommand } from './commands/serve.js';
import { STUDY_COMMANDS } from './commands/study.js';
import { packageVersion } from '../engine/index.js';

export const COMMANDS: ReadonlyArray<Command<FlagSpecs>> = [
  demoCommand,
  trainCommand,
  ...RUNS_COMMANDS,
  ...STUDY_COMMANDS,
  datasetsImportCommand,
  datasetsListCommand,
  datasetsShowCommand,
  datasetsRmCommand,
  datasetsAddBuiltinCommand,
  tokenizerTrainCommand,
  tokenizerListCommand,
  tokenizerImportCommand,
  infoCommand,
  checkCommand,
  benchGemmCommand,
  benchTrainCommand,
  benchAttentionCommand,
  benchDatasetsCommand,
  benchMetricsCommand,
  benchStoreCommand,
  benchUiCommand,
  benchmarksListCommand,
  serveCommand,
] as unknown as ReadonlyArray<Command<FlagSpecs>>;

function topHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.path.join(' ').length));
  return [
    'usage: lshlab <command> [flags]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.path.join(' ').padEnd(w)}  ${c.summary}`),
    '',
    'global flags:',
    formatFlags(GLOBAL_FLAGS),
    '  --help          help for a command, e.g. lshlab bench train --help',
    '  --version       print the lshlab version',
  ].join('\n');
}

function commandHelp(c: Command<FlagSpecs>): string {
  const parts = [`usage: lshlab ${c.usage}`, '', c.summary + '.'];
  if (c.details) parts.push('', c.details);
  parts.push('', 'flags:', formatFlags(c.flags), '', 'global flags:', formatFlags(GLOBAL_FLAGS));
  return parts.join('\n');
}

/** Splits argv into the command words and the rest; global flags may come before the command. */
function findCommand(argv: readonly string[]): { command?: Command<FlagSpecs>; words: string[]; rest: string[] } {
  const rest: string[] = [];
  const words: string[] = [];
  const joined = (w: readonly string[]): string => w.join(' ');
  let i = 0;
  while (i < argv.length) {
    const tok = argv[i] as string;
    if (tok.startsWith('--') && (tok.split('=')[0] as string).slice(2) in GLOBAL_FLAGS) {
      rest.push(tok);
      if (!tok.includes('=') && i + 1 < argv.length) rest.push(argv[++i] as string);
      i++;
      continue;
    }
    if (tok.startsWith('-')) break;
    const candidate = [...words, tok];
    const extendable = COMMANDS.some(
      (c) => c.path.length >= candidate.length && joined(c.path.slice(0, candidate.length)) === joined(candidate),
    );
    if (!extendable) break;
    words.push(tok);
    i++;
    if (COMMANDS.some((c) => joined(c.path) === joined(words))) break;
  }
  rest.push(...argv.slice(i));
  const command = COMMANDS.find((c) => joined(c.path) === joined(words));
  return command ? { command, words, rest } : { words, rest };
}

export async function main(
  argv: readonly string[],
  io: { stdout: Output; stderr: Output; env?: NodeJS.ProcessEnv } = {
    stdout: { write: (s) => void process.stdout.write(s), isTTY: Boolean(process.stdout.isTTY) },
    stderr: { write: (s) => void process.stderr.write(s), isTTY: Boolean(process.stderr.isTTY) },
  },
): Promise<number> {
  const err = (s: string): void => io.stderr.write(s + '\n');
  const { command, words, rest } = findCommand(argv);
  try {
    if (!command) {
      if (words.length === 0 && (rest.includes('--help') || rest.includes('-h'))) {
        io.stdout.write(topHelp() + '\n');
        return 0;
      }
      if (words.length === 0 && rest.includes('--version')) {
        io.stdout.write(packageVersion() + '\n');
        return 0;
      }
      if (words.length > 0) {
        const sub = COMMANDS.filter((c) => c.path[0] === words[0]).map((c) => c.path.join(' '));
        const next = rest.find((t) => !t.startsWith('-'));
        throw new UsageError(
          next !== undefined
            ? `unknown command '${[...words, next].join(' ')}' (try: ${sub.join(', ')})`
            : `'${words.join(' ')}' needs a subcommand: ${sub.join(', ')}`,
        );
      }
      const first = rest.find((t) => !t.startsWith('-'));
      if (first !== undefined) throw new UsageError(`unknown command '${first}'`);
      if (rest.length > 0) throw new UsageError(`expected a command before '${rest[0]}'`);
      throw new UsageError('no command given');
    }
    const name = command.path.join(' ');
    const specs = { ...command.flags, ...GLOBAL_FLAGS } as FlagSpecs;
    const parsed = parseArgs(specs, rest, { command: name, maxPositionals: command.positionals?.max ?? 0 });
    if (parsed.help) {
      io.stdout.write(commandHelp(command) + '\n');
      return 0;
    }
    const flags = parsed.flags as Record<string, unknown>;
    const globals: GlobalFlags = {
      threads: flags['threads'] as number | undefined,
      'data-dir': flags['data-dir'] as string | undefined,
    };
    const ctx = new Context(globals, io.stdout, io.stderr, io.env ?? process.env);
    checkPositionals(command, parsed.positionals);
    return await command.run(flags as never, ctx, parsed.positionals);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`lshlab: ${e.message}`);
      if (e.message === 'no command given') err(topHelp());
      else err(`run 'lshlab ${e.command ? e.command + ' ' : ''}--help' for usage`);
      return 2;
    }
    const msg = e instanceof Error ? e.message : String(e);
    err(`lshlab: error: ${msg}`);
    if (process.env['LSHLAB_DEBUG'] && e instanceof Error && e.stack) err(e.stack);
    return 1;
  }
}

/** Entry point used by bin/lshlab.js. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`lshlab: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run();
