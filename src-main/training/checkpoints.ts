/**
 * checkpoints.ts: where a run's checkpoints live and how one is written so that a failure half way
 * (a full disk, a kill) never damages the previous one. Layout:
 *   <runDir>/checkpoints/step-00000200/{config.json, model.safetensors, optimizer.safetensors}
 * A checkpoint is written into a hidden temporary directory beside its target and renamed into
 * place only when the engine has written and flushed every file (withAtomicDir); on error the
 * temporary directory is removed and the error names the step and the previous checkpoint.
 * It does not prune old checkpoints (runs are small; `runs rm` deletes a run's directory).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeTrainer } from '../engine/types.js';
import { withAtomicDir } from '../data/cache/atomic-dir.js';

export function checkpointsDir(runDir: string): string {
  return path.join(runDir, 'checkpoints');
}

export function checkpointDir(runDir: string, step: number): string {
  return path.join(checkpointsDir(runDir), `step-${String(step).padStart(8, '0')}`);
}

/** Completed checkpoints of a run directory, oldest first (temporary directories are ignored). */
export function listCheckpoints(runDir: string): Array<{ step: number; path: string }> {
  const dir = checkpointsDir(runDir);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((n) => /^step-(\d{8})$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), path: path.join(dir, m[0]) }))
    .sort((a, b) => a.step - b.step);
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((s, n) => s + fs.statSync(path.join(dir, n)).size, 0);
}

/**
 * Test hook: LSHLAB_FAULT_CHECKPOINT=<step> makes the checkpoint of that step fail after the
 * engine wrote its files, as a full disk would, so tests can check that nothing is left behind.
 */
function injectedFault(step: number): Error | undefined {
  const v = process.env['LSHLAB_FAULT_CHECKPOINT'];
  if (v === undefined || Number(v) !== step) return undefined;
  const e = new Error('ENOSPC: no space left on device (injected by LSHLAB_FAULT_CHECKPOINT)') as NodeJS.ErrnoException;
  e.code = 'ENOSPC';
  return e;
}

export class CheckpointError extends Error {
  constructor(readonly step: number, override readonly cause: Error, previous: string | undefined) {
    super(
      `checkpoint at step ${step} failed: ${cause.message}; ` +
        (previous ? `the previous checkpoint ${previous} is intact` : 'no earlier checkpoint exists'),
    );
    this.name = 'CheckpointError';
  }
}

/** Saves the trainer's weights, optimizer state and step as the checkpoint of `step`. */
export async function saveCheckpoint(trainer: NativeTrainer, runDir: string, step: number): Promise<{ path: string; bytes: number }> {
  const target = checkpointDir(runDir, step);
  const previous = listCheckpoints(runDir).filter((c) => c.step !== step).pop()?.path;
  if (fs.existsSync(target)) return { path: target, bytes: dirBytes(target) }; // same step saved already
  try {
    await withAtomicDir(target, async (tmp) => {
      await trainer.save(tmp);
      const fault = injectedFault(step);
      if (fault) throw fault;
    });
  } catch (err) {
    throw new CheckpointError(step, err as Error, previous);
  }
  return { path: target, bytes: dirBytes(target) };
}

/** A checkpoint directory as given by the user: it must hold the three files. */
export function checkCheckpointDir(dir: string): string {
  const abs = path.resolve(dir);
  for (const f of ['config.json', 'model.safetensors']) {
    if (!fs.existsSync(path.join(abs, f))) throw new Error(`${abs}: not a checkpoint (no ${f})`);
  }
  return abs;
}
