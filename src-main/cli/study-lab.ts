/**
 * study-lab.ts: what the `lshlab study` commands share: reading a study argument (a JSON file or
 * a stored study's name), building a definition from flags, registering a definition in the lab
 * (the same name with another definition is refused, naming the first difference), preparing the
 * built-in datasets a study names, and running a study with progress and Ctrl-C handling
 * (first: no new runs, running ones cancelled after their step; second: stopped at once).
 * Definition errors become UsageErrors (exit 2) naming the field.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { UsageError } from './args.js';
import type { Context } from './command.js';
import type { Lab } from './run-training.js';
import { ProgressLine } from './dataset-progress.js';
import { StudyProgress } from './study-progress.js';
import type { LabStore, StudyRow } from '../store/types.js';
import { RunHost } from '../training/host.js';
import { addBuiltins } from '../lab/datasets.js';
import { BUILTIN_SPECS } from '../lab/builtins.js';
import {
  checkStudyAgainstLab, checkStudyShape, firstDifference, parseStudyText, studyJson, StudyDefinitionError, type StudyDefinition,
} from '../lab/study-def.js';
import { StudyRunner, type StudyRunResult } from '../lab/study-runner.js';
import { tally } from '../lab/study-state.js';

/** Runs `f`, turning a definition error into a usage error that names `where` and the field. */
export function checked<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof StudyDefinitionError) throw new UsageError(`study ${where}: ${e.message}`, 'study run');
    throw e;
  }
}

/** A stored study and its definition; a UsageError naming the known studies if there is none. */
export function storedStudy(store: LabStore, name: string): { row: StudyRow; def: StudyDefinition } {
  const row = store.studies.get(name);
  if (!row) {
    const known = store.studies.list().map((s) => s.name);
    throw new UsageError(`no study '${name}' in the lab${known.length ? ` (there is ${known.join(', ')})` : ' (none yet: lshlab study run FILE)'}`, 'study');
  }
  return { row, def: checked(`'${name}' (stored)`, () => checkStudyShape(row.definition)) };
}

/** FILE (an existing path, or anything ending in .json) or a stored study's NAME. */
export function studyArgument(store: LabStore, arg: string): { def: StudyDefinition; file: string | null } {
  if (fs.existsSync(arg) || arg.endsWith('.json')) {
    let text: string;
    try {
      text = fs.readFileSync(arg, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read study file ${arg}: ${(e as Error).message}`, 'study run');
    }
    return { def: checked(arg, () => parseStudyText(text, arg)), file: arg };
  }
  return { def: storedStudy(store, arg).def, file: null };
}

const kv = (what: string, s: string): Array<[string, string]> =>
  s.split(',').filter((x) => x !== '').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what}: expected NAME=VALUE, got '${pair}'`, 'study run');
    return [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
  });
const value = (v: string): string | number => (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) ? Number(v) : v);

/**
 * A raw definition from flags: --variant [KEY=]ATTENTION[:PARAM=VALUE,...] (repeatable),
 * --stage TASK:DATASET[:FIELD=VALUE,...] (repeatable; fields as in a file: steps, batchSize, name,
 * init, ...), --seeds N|S,S,..., --model FIELD=VALUE,...
 */
export function definitionFromFlags(f: { name?: string | undefined; variant: string[]; stage: string[]; seeds?: string | undefined; model?: string | undefined }): Record<string, unknown> {
  if (!f.name) throw new UsageError('give a study file or name, or build one with --name, --variant, --stage and --seeds', 'study run');
  const variants = f.variant.map((v) => {
    const colon = v.indexOf(':');
    const head = colon < 0 ? v : v.slice(0, colon);
    const eq = head.indexOf('=');
    const out: Record<string, unknown> = eq > 0 ? { key: head.slice(0, eq), attention: head.slice(eq + 1) } : { attention: head };
    if (colon >= 0) out['params'] = Object.fromEntries(kv(`--variant ${v}`, v.slice(colon + 1)).map(([k, x]) => [k, value(x)]));
    return out;
  });
  const stages = f.stage.map((s) => {
    // The dataset may hold a colon itself (synthetic:random): the fields are the last part if it has a '='.
    const parts = s.split(':');
    const hasFields = parts.length > 2 && (parts[parts.length - 1] as string).includes('=');
    const task = parts[0];
    const dataset = parts.slice(1, hasFields ? -1 : undefined).join(':');
    const rest = hasFields ? parts[parts.length - 1] : '';
    if (!task || !dataset) throw new UsageError(`--stage ${s}: expected TASK:DATASET[:FIELD=VALUE,...]`, 'study run');
    return { task, dataset, ...Object.fromEntries(kv(`--stage ${s}`, rest ?? '').map(([k, x]) => [k, k === 'name' || k === 'init' ? x : value(x)])) };
  });
  const seeds = f.seeds === undefined ? undefined : /^\d+$/.test(f.seeds) ? Number(f.seeds) : f.seeds.split(',').map((x) => x.trim());
  return {
    name: f.name,
    ...(seeds !== undefined ? { seeds } : {}),
    variants,
    stages,
    ...(f.model ? { model: Object.fromEntries(kv('--model', f.model).map(([k, x]) => [k, value(x)])) } : {}),
  };
}

/** Adds the built-in datasets if the study names one that is missing. */
export async function prepareBuiltins(ctx: Context, lab: Lab, def: StudyDefinition): Promise<void> {
  const builtin = new Set<string>(BUILTIN_SPECS.map((b) => b.name));
  if (!def.stages.some((s) => builtin.has(s.dataset) && !lab.store.datasets.get(s.dataset))) return;
  const prep = new ProgressLine(ctx.stderr, 'built-in datasets');
  const added = await addBuiltins(lab.store, lab.dataDir, { onProgress: (p) => prep.update(p) });
  prep.done(added.created.length ? `added ${added.created.map((d) => d.name).join(', ')}` : 'already present');
}

/** Checks the definition against the lab and records it (or finds it recorded, unchanged). */
export function registerStudy(lab: Lab, def: StudyDefinition, where: string): StudyRow {
  checked(where, () => checkStudyAgainstLab(def, (n) => lab.store.datasets.get(n)));
  const existing = lab.store.studies.get(def.name);
  if (!existing) return lab.store.studies.create(def.name, studyJson(def));
  const diff = firstDifference(studyJson(def), existing.definition);
  if (diff)
    throw new UsageError(
      `study '${def.name}' is already in the lab with another definition (${diff}); run it by name to continue it, ` +
        `remove it (lshlab study rm ${def.name}) or give this one another name`,
      'study run',
    );
  return existing;
}

/** Runs the study to its end with progress on stderr; returns the runner's result. */
export async function runStudyWithProgress(ctx: Context, lab: Lab, study: StudyRow, def: StudyDefinition, parallel: number): Promise<StudyRunResult> {
  // Several cells at once share the cores evenly (a run alone takes them all, as `train` does).
  const cores = ctx.globals.threads ?? os.availableParallelism();
  const host =
    parallel > 1 ? new RunHost(lab.store, lab.dataDir, { owner: `lshlab study run (pid ${process.pid} on ${os.hostname()})`, threads: Math.max(1, Math.floor(cores / parallel)) }) : lab.host;
  let runner: StudyRunner | undefined = undefined;
  const progress = new StudyProgress(ctx.stderr, def, () => runner?.etaSeconds() ?? null);
  runner = new StudyRunner({
    store: lab.store, dataDir: lab.dataDir, host, study, def, parallel,
    events: {
      onCellStart: (e) => progress.start(e),
      onCellStep: (c, m) => progress.step(c, m),
      onCellEnd: (c, run) => progress.end(c, run, tally(runner?.statuses() ?? [])),
      onWaiting: (cells) => progress.waiting(cells),
    },
  });
  const t = tally(runner.statuses());
  ctx.note(`study ${def.name}: ${t.total} runs (${def.stages.length} stage(s) x ${def.variants.length} variant(s) x ${def.seeds.length} seed(s)), ${t.done} done already; parallel ${parallel}`);
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      progress.line('interrupt: no new runs; the running ones are cancelled after their step (Ctrl-C again to stop at once). Run the study again to continue.');
      runner?.stop();
    } else runner?.kill();
  };
  process.on('SIGINT', onSigint);
  try {
    return await runner.run();
  } finally {
    process.off('SIGINT', onSigint);
  }
}
