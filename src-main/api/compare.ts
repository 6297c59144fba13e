/**
 * compare.ts: runs.compare: the paper-style table `lshlab runs compare` prints (lab/compare.ts,
 * rendered in every format the CLI offers) plus a diff of the runs' settings: every field of the
 * spec each run was started with (attention and its parameters, model shape, optimiser, data)
 * whose value is not the same for all runs.
 *
 * It computes no metric itself: lab/runs.ts compareRuns reads summaries and evaluations.
 */
import { compareRuns, resolveRuns } from '../lab/runs.js';
import { renderComparison } from '../lab/compare.js';
import { specOfRun } from '../training/host.js';
import type { RunRow } from '../store/types.js';
import type { ConfigDiffRow } from './contract.js';
import type { Handlers } from './handler.js';
import { deviceInfoOfRun } from '../training/device.js';

type Leaf = string | number | boolean | null;

/** Fields that describe the run rather than its training (they differ by nature). */
const NOT_SETTINGS = new Set(['name', 'tags', 'notes']);

function flatten(o: Record<string, unknown>, prefix: string, out: Map<string, Leaf>): void {
  for (const [k, v] of Object.entries(o)) {
    if (prefix === '' && NOT_SETTINGS.has(k)) continue;
    const field = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, field, out);
    else if (v === undefined) continue;
    else out.set(field, typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null ? v : JSON.stringify(v));
  }
}

/** Settings whose values differ between runs, in a stable order (attention first, then the rest sorted). */
export function configDiff(runs: readonly RunRow[]): ConfigDiffRow[] {
  const flat = runs.map((r) => {
    const m = new Map<string, Leaf>();
    flatten({ ...specOfRun(r), attention: r.attention, attentionParams: r.attentionParams, dataset: r.datasetName, device: r.device ?? null, deviceName: deviceInfoOfRun(r)?.name ?? null }, '', m);
    return m;
  });
  const fields = [...new Set(flat.flatMap((m) => [...m.keys()]))];
  const rank = (f: string): number => (f === 'attention' ? 0 : f.startsWith('attentionParams.') ? 1 : 2);
  fields.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const rows: ConfigDiffRow[] = [];
  for (const field of fields) {
    const values = flat.map((m) => (m.has(field) ? m.get(field)! : null));
    if (values.some((v) => !Object.is(v, values[0]))) rows.push({ field, values });
  }
  return rows;
}

export const compareHandlers: Handlers<'runs.compare'> = {
  'runs.compare': (ctx, p) => {
    const store = ctx.store();
    const comparison = compareRuns(store, p.runs);
    const runs = resolveRuns(store, p.runs);
    return {
      comparison,
      rendered: {
        text: renderComparison(comparison, 'text'),
        markdown: renderComparison(comparison, 'markdown'),
        latex: renderComparison(comparison, 'latex'),
        csv: renderComparison(comparison, 'csv'),
      },
      configDiff: configDiff(runs),
    };
  },
};
