import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError, formatFlags, type FlagSpecs } from '../../src-main/cli/args.js';
import { main } from '../../src-main/cli/main.js';

const SPEC = {
  m: { type: 'int', min: 1, max: 100, required: true, description: 'rows' },
  iters: { type: 'int', min: 0, default: 3, description: 'repetitions' },
  lr: { type: 'number', min: 0, description: 'learning rate' },
  json: { type: 'boolean', description: 'json' },
  only: { type: 'string', description: 'prefix' },
  mode: { type: 'string', choices: ['a', 'b'], default: 'a', description: 'mode' },
} as const satisfies FlagSpecs;

test('parses --name value and --name=value, booleans and defaults', () => {
  const p = parseArgs(SPEC, ['--m', '7', '--lr=0.5', '--json', '--only=op/']);
  assert.deepEqual(p.flags, { m: 7, iters: 3, lr: 0.5, json: true, only: 'op/', mode: 'a' });
  assert.equal(p.help, false);
  // Types: m is number, only is string | undefined.
  const m: number = p.flags.m;
  assert.equal(m, 7);
  assert.equal(parseArgs(SPEC, ['--m=1', '--json=false']).flags.json, false);
  assert.equal(parseArgs(SPEC, ['--m', '1', '--lr', '1e-3']).flags.lr, 0.001);
});

test('unknown flags, bad values and missing values are UsageErrors naming the flag', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--m', '1', '--bogus'], /unknown flag --bogus/],
    [['--m', 'x'], /invalid value for --m: 'x' \(expected an integer\)/],
    [['--m', '2.5'], /invalid value for --m: '2.5' \(expected an integer\)/],
    [['--m', '0'], /invalid value for --m: '0' \(must be >= 1\)/],
    [['--m', '101'], /--m: '101' \(must be <= 100\)/],
    [['--m'], /--m needs a value/],
    [['--m', '--json'], /--m needs a value/],
    [['--m', '1', '--lr', 'fast'], /invalid value for --lr: 'fast' \(expected a number\)/],
    [['--m', '1', '--mode', 'c'], /invalid value for --mode: 'c' \(expected one of a, b\)/],
    [['--m', '1', '--json=maybe'], /invalid value for --json/],
    [[], /missing required flag --m/],
    [['--m', '1', '--m', '2'], /--m given more than once/],
    [['--m', '1', 'extra'], /unexpected argument 'extra'/],
    [['-x'], /unknown option '-x'/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => parseArgs(SPEC, argv, { command: 'demo' }), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${argv.join(' ')}: ${String(e)}`);
      assert.match(e.message, re, argv.join(' '));
      assert.equal(e.command, 'demo');
      return true;
    });
  }
});

test('--help skips required-flag checks', () => {
  const p = parseArgs(SPEC, ['--help']);
  assert.equal(p.help, true);
});

test('negative numbers are values, not flags', () => {
  const spec = { x: { type: 'number', description: 'x' } } as const satisfies FlagSpecs;
  assert.equal(parseArgs(spec, ['--x', '-2.5']).flags.x, -2.5);
});

test('formatFlags lists every flag with its default', () => {
  const text = formatFlags(SPEC);
  assert.match(text, /--m N\s+rows \(required\)/);
  assert.match(text, /--iters N\s+repetitions \(default 3\)/);
  assert.match(text, /--json\s+json/);
});

function capture(): { io: Parameters<typeof main>[1]; out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return {
    io: {
      stdout: { write: (s: string) => void (o += s), isTTY: false },
      stderr: { write: (s: string) => void (e += s), isTTY: false },
    },
    out: () => o,
    err: () => e,
  };
}

test('main: unknown flag exits 2 with a message naming it', async () => {
  const c = capture();
  assert.equal(await main(['bench', 'gemm', '--m', '4', '--n', '4', '--k', '4', '--frobnicate'], c.io), 2);
  assert.match(c.err(), /unknown flag --frobnicate for 'bench gemm'/);
  assert.match(c.err(), /lshlab bench gemm --help/);
  assert.equal(c.out(), '');
});

test('main: bad value and unknown command exit 2', async () => {
  let c = capture();
  assert.equal(await main(['bench', 'train', '--seq', 'long'], c.io), 2);
  assert.match(c.err(), /invalid value for --seq: 'long'/);
  c = capture();
  assert.equal(await main(['--threads', '0', 'info'], c.io), 2);
  assert.match(c.err(), /--threads: '0' \(must be >= 1\)/);
  c = capture();
  assert.equal(await main(['frob'], c.io), 2);
  assert.match(c.err(), /unknown command 'frob'/);
  c = capture();
  assert.equal(await main(['bench'], c.io), 2);
  assert.match(c.err(), /needs a subcommand: bench gemm, bench train/);
  c = capture();
  assert.equal(await main([], c.io), 2);
  assert.match(c.err(), /usage: lshlab <command>/);
});

test('main: --help per command and overall exits 0 on stdout', async () => {
  let c = capture();
  assert.equal(await main(['bench', 'gemm', '--help'], c.io), 0);
  assert.match(c.out(), /usage: lshlab bench gemm --m M --n N --k K/);
  assert.match(c.out(), /--threads N/);
  c = capture();
  assert.equal(await main(['--help'], c.io), 0);
  assert.match(c.out(), /bench train/);
  c = capture();
  assert.equal(await main(['--version'], c.io), 0);
  assert.match(c.out(), /^\d+\.\d+\.\d+\n$/);
});
