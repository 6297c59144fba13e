import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { importRecords, ImportCancelledError, splitSeeded, StreamingSplit } from '../../../src-main/data/import/importer';
import { withAtomicDir, leftoverTempDirs } from '../../../src-main/data/cache/atomic-dir';
import type { LocatedRecord } from '../../../src-main/data/types';
import { collect, tempDir, write } from './helpers';

const dir = tempDir('importer');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const recs = (n: number, split?: string): LocatedRecord[] =>
  Array.from({ length: n }, (_, i) => ({ record: { kind: 'text', text: `doc ${i}` }, at: { file: 'f', line: i + 1 }, ...(split ? { split } : {}) }));

test('importRecords auto-detects each format', async () => {
  assert.equal((await collect(write(dir, 'a.tsv', 'sentence\tlabel\nx\t1\n'), { kind: 'classification' })).length, 1);
  assert.equal((await collect(write(dir, 'a.txt', 'x\ny\n'), { kind: 'text', format: 'auto' })).length, 2);
});

test('splitSeeded: deterministic, exact fraction, keeps given splits', () => {
  const a = splitSeeded(recs(100), { validationFraction: 0.1, seed: 7 });
  const b = splitSeeded(recs(100), { validationFraction: 0.1, seed: 7 });
  const c = splitSeeded(recs(100), { validationFraction: 0.1, seed: 8 });
  assert.deepEqual(a.map((r) => r.split), b.map((r) => r.split));
  assert.notDeepEqual(a.map((r) => r.split), c.map((r) => r.split));
  assert.equal(a.filter((r) => r.split === 'validation').length, 10);
  const given = [...recs(5, 'test'), ...recs(10)];
  const s = splitSeeded(given, { validationFraction: 0.2, seed: 1 });
  assert.deepEqual(s.slice(0, 5).map((r) => r.split), Array(5).fill('test'));
  assert.equal(s.filter((r) => r.split === 'validation').length, 2);
  assert.throws(() => splitSeeded(given, { validationFraction: 1, seed: 1 }), RangeError);
});

test('StreamingSplit: exact count as records stream, deterministic, keeps given splits', () => {
  const run = (n: number, f: number, seed: number, given: LocatedRecord[] = []): string[] => {
    const all = [...given, ...recs(n)];
    const sp = new StreamingSplit(n, { validationFraction: f, seed });
    return all.map((r) => sp.assign(r).split!);
  };
  for (const [n, f] of [[20, 0.25], [100, 0.1], [7, 0.5], [1, 0.3], [0, 0.1], [1000, 0.05]] as const) {
    const a = run(n, f, 7);
    assert.equal(a.filter((s) => s === 'validation').length, Math.round(f * n), `${n} ${f}`);
    assert.equal(a.filter((s) => s === 'train').length, n - Math.round(f * n));
    assert.deepEqual(run(n, f, 7), a);
  }
  assert.notDeepEqual(run(100, 0.1, 7), run(100, 0.1, 8));
  const s = run(10, 0.2, 1, recs(5, 'test'));
  assert.deepEqual(s.slice(0, 5), Array(5).fill('test'));
  assert.equal(s.filter((x) => x === 'validation').length, 2);
  // Each record is equally likely to land in validation (a uniformly drawn subset).
  const hits = new Array(10).fill(0);
  for (let seed = 0; seed < 4000; seed++) run(10, 0.3, seed).forEach((x, i) => { if (x === 'validation') hits[i]++; });
  for (const h of hits) assert.ok(Math.abs(h / 4000 - 0.3) < 0.03, String(hits));
  assert.throws(() => new StreamingSplit(5, { validationFraction: 1, seed: 1 }), RangeError);
  assert.throws(() => new StreamingSplit(-1, { validationFraction: 0.1, seed: 1 }), RangeError);
});

test('cancellation mid-import throws "import cancelled" and leaves no temp dir', async () => {
  const f = write(dir, 'big.txt', 'some words in a line\n'.repeat(100_000));
  const target = path.join(dir, 'out', 'dataset');
  const ac = new AbortController();
  await assert.rejects(
    withAtomicDir(target, async (tmp) => {
      const out = fs.createWriteStream(path.join(tmp, 'records.jsonl'));
      let n = 0;
      try {
        for await (const r of importRecords(f, { kind: 'text', signal: ac.signal, onProgress: (read) => { if (read > 200_000) ac.abort(); } })) {
          out.write(`${JSON.stringify(r.record)}\n`);
          n++;
        }
      } finally {
        await new Promise<void>((resolve) => out.end(resolve));
      }
      return n;
    }, { signal: ac.signal }),
    (e: unknown) => e instanceof ImportCancelledError && /import cancelled/.test(e.message),
  );
  assert.equal(fs.existsSync(target), false);
  assert.deepEqual(leftoverTempDirs(target), []);
});

test('an already-aborted signal cancels before reading', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(collect(write(dir, 'c.txt', 'x\n'), { kind: 'text', signal: ac.signal }), ImportCancelledError);
});
