/**
 * seed-lab.ts: the lab that `lshlab bench ui` measures, written through the store's own append
 * path with store/seed.ts's run rows and series: `runs` runs in all, three of which
 * ("bench-compare-1..3", tagged bench-compare) carry a `points`-point train/loss series each
 * (the compare view's load); the others get 3 keys x 100 steps, so the runs page has a loss to
 * show for every row. With `--data-dir`, pickCompareRuns() chooses the three runs to compare in
 * the user's lab instead (nothing is seeded there).
 */
import { openStore, storePath } from '../../store/index.js';
import { fill, newRun } from '../../store/seed.js';
import { mulberry32 } from '../../data/random.js';
import { resolveRun } from '../../lab/runs.js';

export interface SeededLab {
  /** Ids of the three runs with the long series. */
  compareIds: number[];
  runs: number;
  points: number;
  seconds: number;
}

/** Steps of each ordinary run (3 keys each): enough for a loss, cheap at 10,000 runs. */
const FILLER_STEPS = 100;

export function seedUiLab(dataDir: string, runs: number, pointsPerCompareRun: number, log: (s: string) => void): SeededLab {
  const t0 = performance.now();
  const store = openStore(storePath(dataDir));
  try {
    const r = mulberry32(7);
    const T0 = Date.UTC(2026, 0, 1);
    const fillers = Math.max(0, runs - 3);
    let points = 0;
    for (let i = 1; i <= fillers; i++) {
      const run = store.runs.create(newRun(i));
      points += fill(store, run.id, ['train/loss', 'train/lr', 'train/grad_norm'], FILLER_STEPS, 2000, r, T0);
      if (i % 2500 === 0) log(`  seeded ${i} runs`);
    }
    // Created last, so they are the newest rows (the runs page's first page shows them too).
    const compareIds: number[] = [];
    for (let k = 1; k <= 3; k++) {
      const row = { ...newRun(runs - 3 + k, { tags: ['bench-compare'] }), name: `bench-compare-${k}`, attention: ['exact', 'bert-lsh', 'yoso'][k - 1]! };
      const run = store.runs.create(row);
      points += fill(store, run.id, ['train/loss'], pointsPerCompareRun, 1000, r, T0);
      compareIds.push(run.id);
    }
    return { compareIds, runs: store.runs.count(), points, seconds: (performance.now() - t0) / 1000 };
  } finally {
    store.close();
  }
}

/** In a lab given with --data-dir: the runs named, else the three with the longest train/loss series. */
export function pickCompareRuns(dataDir: string, refs: readonly string[]): number[] {
  const store = openStore(storePath(dataDir));
  try {
    if (refs.length > 0) return refs.map((ref) => resolveRun(store, ref).id);
    const counts = store.runs
      .list()
      .map((run) => ({ id: run.id, n: store.metrics.summaries(run.id).find((s) => s.key === 'train/loss')?.count ?? 0 }))
      .filter((c) => c.n > 0)
      .sort((a, b) => b.n - a.n);
    return counts.slice(0, 3).map((c) => c.id);
  } finally {
    store.close();
  }
}
