/**
 * fuzz.test.ts: bounded, seeded fuzzing of every importer: random bytes and mutations (byte flips,
 * insertions, deletions, truncation, splices) of a good file. Each run must end with valid records
 * or a DataError (never another exception, never a hang), and the atomic output dir it writes into
 * must leave nothing behind on failure.
 */
import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { importRecords, type ImportFormat } from '../../../src-main/data/import/importer';
import { mulberry32 } from '../../../src-main/data/import/split';
import { leftoverTempDirs, withAtomicDir } from '../../../src-main/data/cache/atomic-dir';
import { DataError, type DatasetKind } from '../../../src-main/data/types';
import { FIXTURES, tempDir } from './helpers';

const dir = tempDir('fuzz');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const ITERATIONS = 200;
const PER_RUN_MS = 5000;

const ctx = 'The Denver Broncos won Super Bowl 50.';
const seeds: [ImportFormat, DatasetKind, Buffer][] = [
  ['txt', 'text', Buffer.from('first line é\r\nsecond 😀 line\n\nthird\n')],
  ['jsonl', 'classification', Buffer.from('{"text":"good film","label":1}\n{"text":"bad ü","label":0,"text_pair":"x"}\n')],
  ['csv', 'classification', Buffer.from('text,label\n"a, ""b""",1\n"multi\nline",0\nplain,1\n')],
  ['tsv', 'classification', Buffer.from('sentence\tlabel\nhide new secretions\t0\nloves its characters\t1\n')],
  ['squad', 'qa', Buffer.from(JSON.stringify({ version: 'v2.0', data: [{ title: 't', paragraphs: [{ context: ctx, qas: [
    { id: 'a', question: 'Who won?', answers: [{ text: 'Denver Broncos', answer_start: 4 }] },
    { id: 'b', question: 'Who lost?', is_impossible: true, answers: [], plausible_answers: [{ text: 'Super Bowl', answer_start: 23 }] },
  ] }] }] }))],
  ['parquet', 'classification', fs.readFileSync(path.join(FIXTURES, 'sst2-train.parquet'))],
  ['parquet', 'qa', fs.readFileSync(path.join(FIXTURES, 'squad-validation.parquet'))],
];

function mutate(seed: Buffer, rand: () => number): Buffer {
  const r = (n: number): number => Math.floor(rand() * n);
  const mode = r(6);
  if (mode === 0) return Buffer.from(Array.from({ length: r(400) }, () => r(256)));
  let b = Buffer.from(seed);
  const edits = 1 + r(mode === 5 ? 20 : 4);
  for (let e = 0; e < edits; e++) {
    const pos = r(b.length + 1);
    switch (r(5)) {
      case 0: if (b.length) b[Math.min(pos, b.length - 1)] = r(256); break;
      case 1: b = Buffer.concat([b.subarray(0, pos), Buffer.from([r(256)]), b.subarray(pos)]); break;
      case 2: b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1 + r(8))]); break;
      case 3: b = b.subarray(0, pos); break;
      default: b = Buffer.concat([b.subarray(0, pos), seed.subarray(r(seed.length), r(seed.length)), b.subarray(pos)]);
    }
  }
  return b;
}

for (const [format, kind, seed] of seeds) {
  test(`fuzz ${format} (${kind}): ${ITERATIONS} seeded inputs end in records or a DataError`, { timeout: 120_000 }, async () => {
    const rand = mulberry32(0x5eed + format.length * 31 + kind.length);
    const outcomes = { ok: 0, dataError: 0 };
    for (let i = 0; i < ITERATIONS; i++) {
      const input = mutate(seed, rand);
      const file = path.join(dir, `in-${format}-${kind}-${i}.${format === 'squad' ? 'json' : format}`);
      fs.writeFileSync(file, input);
      const target = path.join(dir, `out-${format}-${kind}-${i}`);
      const useAuto = i % 4 === 0;
      let timer: NodeJS.Timeout | undefined;
      const run = withAtomicDir(target, async (tmp) => {
        const out: string[] = [];
        for await (const r of importRecords(file, { kind, format: useAuto ? 'auto' : format })) out.push(JSON.stringify(r.record));
        fs.writeFileSync(path.join(tmp, 'records.jsonl'), out.join('\n'));
        return out.length;
      });
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`hang: ${format} iteration ${i}`)), PER_RUN_MS);
      });
      try {
        await Promise.race([run, hang]);
        outcomes.ok++;
        fs.rmSync(target, { recursive: true });
      } catch (err) {
        if (!(err instanceof DataError)) {
          fs.copyFileSync(file, path.join(dir, '..', `lshlab-fuzz-failure-${format}-${i}`));
          assert.fail(`${format} iteration ${i}: expected DataError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        }
        outcomes.dataError++;
        assert.match(err.message, new RegExp(`in-${format}-${kind}-${i}`));
        assert.equal(fs.existsSync(target), false);
      } finally {
        clearTimeout(timer);
      }
      assert.deepEqual(leftoverTempDirs(target), []);
      fs.rmSync(file);
    }
    assert.equal(outcomes.ok + outcomes.dataError, ITERATIONS);
    assert.ok(outcomes.dataError > 0);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
}
