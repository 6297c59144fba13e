/**
 * tokenizers.ts: the lab's tokenizers. Each lives in <dataDir>/tokenizers/<name>/ with vocab.txt,
 * tokenizer.json and meta.json (how it was made), written atomically (a temp folder renamed into
 * place). This module resolves a --tokenizer value (a lab name, or a path to a vocab.txt /
 * tokenizer.json / folder holding one), lists the lab's tokenizers, trains one on a dataset and
 * imports an existing one (a Hugging Face BERT folder's vocabulary).
 *
 * The default tokenizer `builtin-wp8k` (WordPiece, vocab 8192, trained on builtin-text's
 * training split) is made by `datasets add-builtin` (datasets.ts), not here: resolving it when
 * it is missing is an error that says so (see resolveTokenizer for why).
 * Not here: the tokenizer itself (data/tokenizer/), encoding datasets (datasets.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withAtomicDir } from '../data/cache/atomic-dir.js';
import { loadTokenizer } from '../data/tokenizer/load.js';
import { trainWordPiece } from '../data/tokenizer/train.js';
import type { HfWordPieceTokenizer } from '../data/tokenizer/wordpiece.js';
import type { DatasetRecord } from '../data/types.js';
import type { LabStore } from '../store/types.js';
import { checkLabName, readRecordsJsonl, RECORDS_FILE } from './dataset-files.js';

export const DEFAULT_TOKENIZER = 'builtin-wp8k';
export const DEFAULT_VOCAB_SIZE = 8192;
const META_FILE = 'meta.json';

export interface TokenizerMeta {
  name: string;
  vocabSize: number;
  /** What it was trained on, e.g. "dataset builtin-text (split train)". */
  trainedOn: string;
  minFrequency: number;
  createdAt: number;
  /** sha256 of vocab.txt. */
  sha256: string;
}

export interface TokenizerInfo extends TokenizerMeta {
  dir: string;
}

export interface ResolvedTokenizer {
  /** The lab name, or the absolute path for a tokenizer given by path. */
  name: string;
  /** The folder or file it was loaded from. */
  path: string;
  inLab: boolean;
  tokenizer: HfWordPieceTokenizer;
}

export function tokenizersDir(dataDir: string): string {
  return path.join(dataDir, 'tokenizers');
}

export function tokenizerDir(dataDir: string, name: string): string {
  return path.join(tokenizersDir(dataDir), checkLabName(name, 'tokenizer'));
}

export function tokenizerExists(dataDir: string, name: string): boolean {
  return fs.existsSync(path.join(tokenizerDir(dataDir, name), 'vocab.txt'));
}

/** The lab's tokenizers, by name (meta.json where present, else the vocab.txt line count). */
export function listTokenizers(dataDir: string): TokenizerInfo[] {
  const root = tokenizersDir(dataDir);
  if (!fs.existsSync(root)) return [];
  const out: TokenizerInfo[] = [];
  for (const name of fs.readdirSync(root).sort()) {
    const dir = path.join(root, name);
    if (name.startsWith('.') || !fs.existsSync(path.join(dir, 'vocab.txt'))) continue;
    let meta: Partial<TokenizerMeta> = {};
    try {
      meta = JSON.parse(fs.readFileSync(path.join(dir, META_FILE), 'utf8')) as TokenizerMeta;
    } catch {
      const vocab = fs.readFileSync(path.join(dir, 'vocab.txt'), 'utf8');
      meta = { vocabSize: vocab.split('\n').filter((l) => l !== '').length, trainedOn: 'unknown', sha256: sha256(vocab) };
    }
    out.push({
      name, dir, vocabSize: meta.vocabSize ?? 0, trainedOn: meta.trainedOn ?? 'unknown', minFrequency: meta.minFrequency ?? 0,
      createdAt: meta.createdAt ?? fs.statSync(dir).mtimeMs, sha256: meta.sha256 ?? '',
    });
  }
  return out;
}

function looksLikePath(ref: string): boolean {
  return ref.includes('/') || ref.includes('\\') || /\.(txt|json)$/i.test(ref) || ref.startsWith('.') || ref.startsWith('~');
}

/**
 * Resolves `ref` (default builtin-wp8k): a lab tokenizer name, else a path. A missing default is
 * an error telling the user to run `lshlab datasets add-builtin`, rather than training it here:
 * the default is defined as trained on builtin-text's training split, so making it means reading
 * and splitting the built-in corpus and training for several seconds (most of add-builtin), a
 * surprising side effect of importing an unrelated file; one explicit command is clearer.
 */
export function resolveTokenizer(dataDir: string, ref: string = DEFAULT_TOKENIZER, cwd = process.cwd()): ResolvedTokenizer {
  if (!looksLikePath(ref)) {
    checkLabName(ref, 'tokenizer');
    const dir = tokenizerDir(dataDir, ref);
    if (fs.existsSync(path.join(dir, 'vocab.txt'))) {
      return { name: ref, path: dir, inLab: true, tokenizer: loadTokenizer(dir) };
    }
    if (!fs.existsSync(path.resolve(cwd, ref))) {
      if (ref === DEFAULT_TOKENIZER) {
        throw new Error(`the default tokenizer ${ref} is not in this lab yet (${tokenizersDir(dataDir)}): ` +
          `run 'lshlab datasets add-builtin' once (it trains ${ref} on the built-in corpus), or pass --tokenizer NAME|PATH`);
      }
      const have = listTokenizers(dataDir).map((t) => t.name);
      throw new Error(`tokenizer "${ref}" not found in ${tokenizersDir(dataDir)} (have: ${have.join(', ') || 'none'}); ` +
        `pass a lab tokenizer name or a path to a vocab.txt or tokenizer.json`);
    }
  }
  const p = path.resolve(cwd, ref.startsWith('~/') ? path.join(process.env['HOME'] ?? '', ref.slice(2)) : ref);
  return { name: p, path: p, inLab: false, tokenizer: loadTokenizer(p) };
}

function sha256(s: string | Buffer): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

/** Saves a tokenizer as <dataDir>/tokenizers/<name>/ (atomic; the name must be free). */
export async function saveLabTokenizer(
  dataDir: string,
  name: string,
  tok: HfWordPieceTokenizer,
  meta: { trainedOn: string; minFrequency: number },
): Promise<TokenizerInfo> {
  const dir = tokenizerDir(dataDir, name);
  const info = await withAtomicDir(dir, async (tmp) => {
    await tok.save(tmp);
    const m: TokenizerMeta = {
      name, vocabSize: tok.vocabSize, trainedOn: meta.trainedOn, minFrequency: meta.minFrequency,
      createdAt: Date.now(), sha256: sha256(fs.readFileSync(path.join(tmp, 'vocab.txt'))),
    };
    fs.writeFileSync(path.join(tmp, META_FILE), JSON.stringify(m, null, 2) + '\n');
    return m;
  });
  return { ...info, dir };
}

export interface TrainTokenizerOptions {
  dataset: string;
  vocabSize: number;
  /** Default "<dataset>-wp<vocabSize>". */
  name?: string | undefined;
  /** Default "train" (validation text stays unseen). */
  split?: string | undefined;
  minFrequency?: number | undefined;
  onProgress?: ((phase: 'read' | 'train' | 'write', done: number, total: number) => void) | undefined;
}

/** The texts of a record (classification: text and pair; QA: question and context). */
export function recordTexts(r: DatasetRecord): string[] {
  if (r.kind === 'qa') return [r.question, r.context];
  if (r.kind === 'classification' && r.textPair !== undefined) return [r.text, r.textPair];
  return [r.text];
}

/** Trains a WordPiece tokenizer on one split of a lab dataset and saves it in the lab. */
export async function trainTokenizer(store: LabStore, dataDir: string, opts: TrainTokenizerOptions): Promise<TokenizerInfo> {
  const row = store.datasets.get(opts.dataset);
  if (!row) throw new Error(`no dataset "${opts.dataset}" (see 'lshlab datasets list')`);
  const name = checkLabName(opts.name ?? `${opts.dataset}-wp${opts.vocabSize}`, 'tokenizer');
  if (fs.existsSync(tokenizerDir(dataDir, name))) throw new Error(`tokenizer "${name}" already exists (${tokenizerDir(dataDir, name)}); pass --name`);
  const split = opts.split ?? 'train';
  const total = row.splits[split];
  if (total === undefined) throw new Error(`dataset "${row.name}" has no split "${split}" (has: ${Object.keys(row.splits).join(', ')})`);
  const file = path.join(row.dir, RECORDS_FILE);
  const seen = new Set<string>(); // QA contexts repeat once per question: count each once
  let done = 0;
  async function* texts(): AsyncGenerator<string> {
    for await (const { record } of readRecordsJsonl(file, { split })) {
      if (record.kind === 'qa') {
        yield record.question;
        if (!seen.has(record.context)) {
          seen.add(record.context);
          yield record.context;
        }
      } else {
        yield* recordTexts(record);
      }
      if (++done % 1000 === 0) opts.onProgress?.('read', done, total!);
    }
    opts.onProgress?.('train', 0, 1);
  }
  const minFrequency = opts.minFrequency ?? 2;
  const tok = await trainWordPiece(texts(), { vocabSize: opts.vocabSize, minFrequency, source: `dataset ${row.name}` });
  opts.onProgress?.('write', 0, 1);
  return saveLabTokenizer(dataDir, name, tok, { trainedOn: `dataset ${row.name} (split ${split})`, minFrequency });
}

/**
 * Imports an existing vocabulary into the lab as tokenizer `name`: a folder with tokenizer.json or
 * vocab.txt (a Hugging Face BERT folder, e.g. Google's BERT-tiny), or one of those files. Datasets
 * tokenized with it (`datasets import ... --tokenizer NAME`) match that model's embeddings, so the
 * model can be fine-tuned with `train --init-from FOLDER`. Loading checks the vocabulary (special
 * tokens, duplicates) and names the file at fault.
 */
export async function importTokenizer(dataDir: string, source: string, name: string): Promise<TokenizerInfo> {
  checkLabName(name, 'tokenizer');
  if (fs.existsSync(tokenizerDir(dataDir, name))) throw new Error(`tokenizer "${name}" already exists (${tokenizerDir(dataDir, name)}); pass another --name`);
  const abs = path.resolve(source);
  if (!fs.existsSync(abs)) throw new Error(`${abs}: no such file or folder (give a folder with vocab.txt or tokenizer.json, or the file)`);
  // A vocab.txt loads as an uncased BERT tokenizer; a cased model's folder says so in
  // tokenizer_config.json, and only its tokenizer.json keeps the casing.
  const folder = fs.statSync(abs).isDirectory() ? abs : path.dirname(abs);
  const usesVocabTxt = fs.statSync(abs).isDirectory() ? !fs.existsSync(path.join(abs, 'tokenizer.json')) : !abs.toLowerCase().endsWith('.json');
  const configFile = path.join(folder, 'tokenizer_config.json');
  if (usesVocabTxt && fs.existsSync(configFile)) {
    let cfg: { do_lower_case?: unknown } = {};
    try {
      cfg = JSON.parse(fs.readFileSync(configFile, 'utf8')) as typeof cfg;
    } catch {
      // not ours to validate: the vocabulary is what we import
    }
    if (cfg.do_lower_case === false)
      throw new Error(`${configFile}: do_lower_case is false (a cased model), but a vocab.txt imports as an uncased tokenizer; import the folder's tokenizer.json instead`);
  }
  const tok = loadTokenizer(abs);
  return saveLabTokenizer(dataDir, name, tok, { trainedOn: `imported from ${tok.source}`, minFrequency: 0 });
}
