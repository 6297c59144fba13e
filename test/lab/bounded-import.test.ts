/**
 * bounded-import.test.ts: `importDataset` streams with bounded memory. A 32 MB text file (random
 * words from a 64-word vocabulary, one document per line, ~221,000 records, ~6 M tokens) is
 * imported in a child process started with `node --max-old-space-size=96`, and the dataset's
 * record, token and split counts must be exact.
 * Why the cap proves boundedness: the old path (records collected in an array, then split and
 * tokenized in memory) needs the whole file as JS strings and objects on the heap: it ran out of
 * heap under this cap after ~4 s on this very file (and peaked at 982 MB RSS uncapped on a 50 MB
 * one; docs/benchmarks.md "Datasets"). The streaming path holds a few chunks of 2,048 records.
 * The size is chosen to keep the test well under a minute on a 2-core machine.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeLab, TEST_TOKENIZER, testTokenizer, type Lab } from './lab-fixture.js';

const MB = 32;
const HEAP_MB = 96;
const WORDS = ('the whale ship captain sea harpoon white deep ocean sailor storm island wind rope mast deck boat crew night ' +
  'day water salt fish line hook sail north south east west old young man boy chart star moon sun wave rock shore harbour ' +
  'anchor cabin voyage ahab queequeg starbuck pequod nantucket oil bone tail fin blow spout lance iron wood tar barrel').split(' ');

let lab: Lab;
before(async () => { lab = await makeLab(); });
after(() => lab.close());

/** Writes the corpus; returns its record count and how often each word occurs. */
function writeCorpus(file: string): { records: number; counts: number[] } {
  let s = 12345;
  const rand = (): number => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 32; };
  const counts = new Array<number>(WORDS.length).fill(0);
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  let records = 0;
  try {
    while (bytes < MB * 1e6) {
      const lines: string[] = [];
      for (let k = 0; k < 1000; k++) {
        const n = 5 + Math.floor(rand() * 40);
        const w: string[] = [];
        for (let i = 0; i < n; i++) { const j = Math.floor(rand() * WORDS.length); counts[j]!++; w.push(WORDS[j]!); }
        lines.push(w.join(' '));
      }
      const text = lines.join('\n') + '\n';
      fs.writeSync(fd, text);
      bytes += text.length;
      records += lines.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { records, counts };
}

const CHILD = `
const path = require('node:path');
const dist = process.argv[1];
const { importDataset } = require(path.join(dist, 'src-main/lab/datasets.js'));
const { openStore, storePath } = require(path.join(dist, 'src-main/store/index.js'));
const [dataDir, file, tokenizer] = process.argv.slice(2);
(async () => {
  const store = openStore(storePath(dataDir));
  try {
    const row = await importDataset(store, dataDir, { path: file, kind: 'text', name: 'bounded', tokenizer });
    const v8 = require('node:v8').getHeapStatistics();
    process.stdout.write(JSON.stringify({ numRecords: row.numRecords, numTokens: row.numTokens, splits: row.splits,
      heapLimitMb: v8.heap_size_limit / 2 ** 20, workers: row.stats.tokenizeWorkers }));
  } finally {
    store.close();
  }
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

test(`a ${MB} MB text file imports under --max-old-space-size=${HEAP_MB}`, { timeout: 120_000 }, async () => {
  const file = lab.file('bounded.txt', '');
  const { records, counts } = writeCorpus(file);
  const tok = await testTokenizer();
  let tokens = 0;
  for (let j = 0; j < WORDS.length; j++) tokens += counts[j]! * (await tok.encode(WORDS[j]!)).ids.length;
  const dist = path.join(__dirname, '..', '..');
  const t0 = Date.now();
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [`--max-old-space-size=${HEAP_MB}`, '-e', CHILD, dist, lab.dir, file, TEST_TOKENIZER],
      { maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`child failed: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
  const r = JSON.parse(out) as { numRecords: number; numTokens: number; splits: Record<string, number>; heapLimitMb: number; workers: number };
  process.stdout.write(`# bounded import: ${records} records, ${tokens} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s, heap limit ${r.heapLimitMb.toFixed(0)} MB, ${r.workers} tokenizer thread(s)\n`);
  assert.ok(r.heapLimitMb < HEAP_MB + 64, `heap cap applied (${r.heapLimitMb} MB)`);
  assert.equal(r.numRecords, records);
  assert.equal(r.numTokens, tokens);
  assert.deepEqual(r.splits, { train: records - Math.round(0.1 * records), validation: Math.round(0.1 * records) });
  fs.rmSync(file);
});
