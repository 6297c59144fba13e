/**
 * datasets.test.ts (CLI): `lshlab datasets import | list | show | rm` and `lshlab tokenizer
 * train | list` through the real binary on a temp data directory: JSON output parses, progress
 * goes to stderr, bad input exits 1 with "lshlab: error: <file>: line N: ...", usage errors exit
 * 2, and a missing default tokenizer tells the user to run add-builtin. (add-builtin itself is
 * tested in test/lab/builtins.test.ts.)
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src-main/engine/index.js';
import { saveLabTokenizer } from '../../src-main/lab/tokenizers.js';
import { testTokenizer } from '../lab/lab-fixture.js';

const BIN = path.join(packageRoot(), 'bin', 'lshlab.js');
let root: string;
let dataDir: string;

function lshlab(args: string[], dir = dataDir): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], { encoding: 'utf8', timeout: 120_000, cwd: root });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-cli-datasets-'));
  dataDir = path.join(root, 'lab');
  fs.mkdirSync(dataDir);
  // The lab's default tokenizer, stood in for by the small test one (add-builtin would train the real one).
  await saveLabTokenizer(dataDir, 'builtin-wp8k', await testTokenizer(), { trainedOn: 'test', minFrequency: 2 });
  fs.writeFileSync(path.join(root, 'sst2.tsv'), 'sentence\tlabel\n' + Array.from({ length: 10 }, (_, i) => `the whale ${i}\t${i % 2}`).join('\n') + '\n');
  fs.writeFileSync(path.join(root, 'ragged.csv'), 'text,label\nfine,1\nnot,0,fine\n');
  fs.writeFileSync(path.join(root, 'corpus.txt'), Array.from({ length: 40 }, (_, i) => `call me ishmael ${i} said the sailor of the sea`).join('\n'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('datasets import / list / show / rm', () => {
  const imp = lshlab(['datasets', 'import', 'sst2.tsv', '--kind', 'classification', '--validation-fraction', '0.2', '--json']);
  assert.equal(imp.code, 0, imp.stderr);
  const row = JSON.parse(imp.stdout) as { name: string; labelSet: string[]; splits: Record<string, number>; tokenizer: string };
  assert.equal(row.name, 'sst2');
  assert.deepEqual(row.labelSet, ['0', '1']);
  assert.deepEqual(row.splits, { train: 8, validation: 2 });
  assert.equal(row.tokenizer, 'builtin-wp8k');
  assert.match(imp.stderr, /datasets import: sst2: tokenize/); // plain progress lines on a pipe
  const list = lshlab(['datasets', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual((JSON.parse(list.stdout) as { name: string }[]).map((d) => d.name), ['sst2']);
  assert.match(lshlab(['datasets', 'list']).stdout, /^sst2\s+classification\s+10\s+/m);
  const show = lshlab(['datasets', 'show', 'sst2']);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /tokens\.bin/);
  const showJson = JSON.parse(lshlab(['datasets', 'show', 'sst2', '--json']).stdout) as { problems: string[]; manifest: { tokenizer: { vocabSize: number } } };
  assert.deepEqual(showJson.problems, []);
  assert.ok(showJson.manifest.tokenizer.vocabSize > 100);
  const rm = lshlab(['datasets', 'rm', 'sst2']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /removed sst2: database row and directory/);
  assert.match(lshlab(['datasets', 'list']).stdout, /no datasets/);
  assert.equal(lshlab(['datasets', 'show', 'sst2']).code, 1);
});

test('bad input exits 1 naming the file and line, and leaves nothing', () => {
  const r = lshlab(['datasets', 'import', 'ragged.csv', '--kind', 'classification']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^lshlab: error: \S*ragged\.csv: line 3: expected 2 columns, found 3$/m);
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'datasets')).filter((n) => n.includes('ragged')), []);
  const missing = lshlab(['datasets', 'import', 'nope.tsv', '--kind', 'text']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /lshlab: error: \S*nope\.tsv: no such file/);
});

test('usage errors exit 2 naming the flag or argument', () => {
  const noKind = lshlab(['datasets', 'import', 'sst2.tsv']);
  assert.equal(noKind.code, 2);
  assert.match(noKind.stderr, /missing required flag --kind/);
  const noPath = lshlab(['datasets', 'import', '--kind', 'text']);
  assert.equal(noPath.code, 2);
  assert.match(noPath.stderr, /needs the PATH/);
  const badFormat = lshlab(['datasets', 'import', 'sst2.tsv', '--kind', 'text', '--format', 'xml']);
  assert.equal(badFormat.code, 2);
  assert.match(badFormat.stderr, /--format/);
});

test('without the default tokenizer the import says to run add-builtin', () => {
  const empty = path.join(root, 'empty-lab');
  const r = lshlab(['datasets', 'import', 'sst2.tsv', '--kind', 'classification'], empty);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /lshlab: error: the default tokenizer builtin-wp8k is not in this lab yet .*run 'lshlab datasets add-builtin'/);
  assert.deepEqual(fs.existsSync(path.join(empty, 'datasets')) ? fs.readdirSync(path.join(empty, 'datasets')) : [], []);
});

test('tokenizer train / list', () => {
  assert.equal(lshlab(['datasets', 'import', 'corpus.txt', '--kind', 'text']).code, 0);
  const t = lshlab(['tokenizer', 'train', '--dataset', 'corpus', '--vocab-size', '100', '--name', 'tiny', '--json']);
  assert.equal(t.code, 0, t.stderr);
  assert.equal((JSON.parse(t.stdout) as { name: string }).name, 'tiny');
  const list = lshlab(['tokenizer', 'list']);
  assert.match(list.stdout, /^tiny\s+\d+\s+dataset corpus \(split train\)/m);
  assert.match(list.stdout, /^builtin-wp8k\s+2000\s+test/m);
  const imp = lshlab(['datasets', 'import', 'corpus.txt', '--kind', 'text', '--name', 'corpus-tiny', '--tokenizer', 'tiny', '--json']);
  assert.equal(imp.code, 0, imp.stderr);
  assert.equal((JSON.parse(imp.stdout) as { tokenizer: string }).tokenizer, 'tiny');
});
