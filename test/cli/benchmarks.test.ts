/**
 * benchmarks.test.ts: `bench attention --record` keeps its result, with the environment, in the
 * lab database, and `benchmarks list` shows it (text and JSON); without --record nothing is kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src-main/cli/main.js';

async function lshlab(dir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main([...args, '--data-dir', dir], {
    stdout: { write: (s) => void (stdout += s), isTTY: false },
    stderr: { write: (s) => void (stderr += s), isTTY: false },
    env: {},
  });
  return { code, stdout, stderr };
}

test('bench attention --record, then benchmarks list', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-bench-record-'));
  try {
    const quick = ['bench', 'attention', '--paper-table1', '--time-iters', '20', '--dot-iters', '5'];
    assert.equal((await lshlab(dir, quick)).code, 0);
    assert.match((await lshlab(dir, ['benchmarks', 'list'])).stdout, /no benchmarks recorded/);
    const r = await lshlab(dir, [...quick, '--record']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /recorded as benchmark 1/);
    const text = await lshlab(dir, ['benchmarks', 'list']);
    assert.match(text.stdout, /^ 1 {2}attention\/paper-table1 .* bert-lsh\/exact call time [\d.]+x .* lshlab bench attention --paper-table1/m);
    const json = JSON.parse((await lshlab(dir, ['benchmarks', 'list', '--json'])).stdout) as Array<Record<string, unknown>>;
    assert.equal(json.length, 1);
    const b = json[0]!;
    assert.equal(b['kind'], 'attention/paper-table1');
    assert.equal(((b['result'] as Record<string, Record<string, number>>)['exact'])!['kflops_paper'], 25.6);
    assert.ok((b['environment'] as Record<string, unknown>)['cpu']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
