/**
 * `lshlab check [--only PREFIX] [--json]`: the engine's float64 gradient checks. Exit 1 if any
 * check fails (or none matches --only).
 */
import { defineCommand } from '../command.js';
import { num, Progress, table } from '../format.js';

export const checkCommand = defineCommand({
  path: ['check'],
  summary: 'run the gradient checks of every op and of the model',
  usage: 'check [--only PREFIX] [--json]',
  flags: {
    only: { type: 'string', metavar: 'PREFIX', description: 'run only checks whose name starts with PREFIX' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  async run(flags, ctx) {
    const engine = ctx.engine();
    const progress = new Progress(ctx.stderr, 'running gradient checks');
    let results;
    try {
      results = await engine.runChecks(flags.only ?? '');
      progress.done();
    } catch (err) {
      progress.done('failed');
      throw err;
    }
    const failed = results.filter((r) => !r.passed).length;
    const passed = results.length - failed;
    if (flags.json) {
      ctx.out(
        JSON.stringify(
          {
            passed,
            failed,
            only: flags.only ?? null,
            results: results.map((r) => ({
              name: r.name,
              max_rel_error: r.maxRelError,
              tolerance: r.tolerance,
              checked: r.checked,
              skipped: r.skipped,
              passed: r.passed,
            })),
          },
          null,
          2,
        ),
      );
    } else {
      ctx.out(
        table(
          ['name', 'max rel error', 'tolerance', 'checked', 'skipped', 'result'],
          results.map((r) => [
            r.name,
            r.maxRelError.toExponential(2),
            r.tolerance.toExponential(0),
            String(r.checked),
            String(r.skipped),
            r.passed ? 'PASS' : 'FAIL',
          ]),
          ['l', 'r', 'r', 'r', 'r', 'l'],
        ),
      );
      ctx.out(`gradient checks: ${passed} passed, ${failed} failed`);
    }
    if (results.length === 0) {
      ctx.note(`error: no gradient check matches --only ${JSON.stringify(flags.only ?? '')}`);
      return 1;
    }
    if (failed > 0 && !flags.json) {
      const worst = results.filter((r) => !r.passed).map((r) => `${r.name} (${num(r.maxRelError)})`);
      ctx.note(`failed: ${worst.join(', ')}`);
    }
    return failed > 0 ? 1 : 0;
  },
});
