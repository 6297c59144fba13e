/**
 * helpers.ts: shared test helpers for the importer tests: a temp directory per test file, fixture
 * writing, collecting records, and asserting a DataError that names a place. Not a test itself.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError, type LocatedRecord } from '../../../src-main/data/types';
import { importRecords, type ImportRecordsOptions } from '../../../src-main/data/import/importer';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lshlab-${prefix}-`));
}

export function write(dir: string, name: string, content: string | Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

export async function collect(file: string, opts: ImportRecordsOptions): Promise<LocatedRecord[]> {
  const out: LocatedRecord[] = [];
  for await (const r of importRecords(file, opts)) out.push(r);
  return out;
}

/** Asserts that importing rejects with a DataError whose message matches `pattern`. */
export async function rejectsData(p: Promise<unknown>, pattern: RegExp): Promise<DataError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DataError, `expected DataError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a DataError matching ${pattern}`);
}

export const FIXTURES = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'parquet');
