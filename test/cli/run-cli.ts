/**
 * run-cli.ts: what the CLI tests share: `lshlab(dir, args)` runs the real command line (main())
 * in this process on the lab `dir` with one engine thread, capturing stdout, stderr and the exit
 * code; TINY_MLM is a synthetic masked-LM run small enough that a step takes milliseconds.
 */
import { main } from '../../src-main/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function lshlab(dir: string, args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main([...args, '--data-dir', dir, '--threads', '1'], {
    stdout: { write: (s) => void (stdout += s), isTTY: false },
    stderr: { write: (s) => void (stderr += s), isTTY: false },
    env: {},
  });
  return { code, stdout, stderr };
}

export const TINY_MLM = ['--task', 'mlm', '--dataset', 'synthetic:random', '--hidden', '16', '--layers', '1', '--heads', '2', '--intermediate', '32', '--max-seq-len', '16', '--batch', '4'];
