/**
 * lab-fixture.ts (test helper, not a test): a throwaway lab for the dataset tests: a temp data
 * directory with the real SQLite store and a small real WordPiece tokenizer "test-wp" (vocab
 * 2000, trained on the first Moby-Dick sections in well under a second), plus checks that a failed
 * import left nothing behind (no dataset directory, no temp directory, no database row).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mobyDickDocuments } from '../../src-main/data/tokenizer/builtin-corpus.js';
import { trainWordPiece } from '../../src-main/data/tokenizer/train.js';
import type { HfWordPieceTokenizer } from '../../src-main/data/tokenizer/wordpiece.js';
import { datasetsDir } from '../../src-main/lab/dataset-files.js';
import { saveLabTokenizer } from '../../src-main/lab/tokenizers.js';
import { openStore, storePath } from '../../src-main/store/index.js';
import type { LabStore } from '../../src-main/store/types.js';

export const TEST_TOKENIZER = 'test-wp';

let vocab: Promise<HfWordPieceTokenizer> | undefined;
/** The test tokenizer (trained once per process). */
export function testTokenizer(): Promise<HfWordPieceTokenizer> {
  vocab ??= trainWordPiece([...mobyDickDocuments()].slice(0, 12).map((d) => d.text), { vocabSize: 2000, source: 'test' });
  return vocab;
}

export interface Lab {
  dir: string;
  store: LabStore;
  /** Writes a file into the lab's scratch folder (outside the data directory's datasets/). */
  file(name: string, content: string | Uint8Array): string;
  close(): void;
}

export async function makeLab(opts: { tokenizerName?: string } = {}): Promise<Lab> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-lab-'));
  const dir = path.join(root, 'data');
  const scratch = path.join(root, 'in');
  fs.mkdirSync(dir);
  fs.mkdirSync(scratch);
  const store = openStore(storePath(dir));
  await saveLabTokenizer(dir, opts.tokenizerName ?? TEST_TOKENIZER, await testTokenizer(), { trainedOn: 'test', minFrequency: 2 });
  return {
    dir,
    store,
    file(name, content) {
      const p = path.join(scratch, name);
      fs.writeFileSync(p, content);
      return p;
    },
    close() {
      store.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Asserts that no dataset `name` exists in any form: row, directory or temp directory. */
export function assertNothingLeft(lab: Lab, name: string): void {
  assert.equal(lab.store.datasets.get(name), undefined, `no row for ${name}`);
  const parent = datasetsDir(lab.dir);
  const left = fs.existsSync(parent) ? fs.readdirSync(parent).filter((n) => n === name || n.startsWith(`.${name}.tmp-`)) : [];
  assert.deepEqual(left, [], `nothing on disk for ${name}`);
}
