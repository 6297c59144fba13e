/**
 * load.ts: loads an existing BERT vocabulary: a `vocab.txt` (one token per line, id = line index,
 * as Google's BERT and Hugging Face write it), a `tokenizer.json` (a Hugging Face tokenizer whose
 * model is WordPiece), or a folder holding either (tokenizer.json preferred). Every error is a
 * DataError naming the file (and line): missing file, a directory, empty file, duplicate tokens, missing special tokens.
 *
 * vocab.txt is parsed here rather than with the binding's WordPiece.fromFile, so that duplicates,
 * empty lines and a BOM are reported with file and line (fromFile silently lets a later duplicate
 * win and reports I/O errors without context); the vocabulary map then goes to WordPiece.init.
 *
 * Not here: saving (HfWordPieceTokenizer.save), training (train.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from 'tokenizers';
import { DataError } from '../types.js';
import { HfWordPieceTokenizer, SPECIAL_TOKENS } from './wordpiece.js';

function readText(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new DataError({ file }, `no such file`);
  }
  if (st.isDirectory()) throw new DataError({ file }, `is a directory, expected a file`);
  let text = fs.readFileSync(file, 'utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new DataError({ file }, `empty file`);
  return text;
}

function checkSpecials(file: string, has: (t: string) => boolean): void {
  const missing = SPECIAL_TOKENS.filter((t) => !has(t));
  if (missing.length > 0) throw new DataError({ file }, `vocabulary lacks special token(s) ${missing.join(' ')}`);
}

/** Parses vocab.txt lines (without building a tokenizer); exported for tests and tools. */
export function parseVocabTxt(file: string, text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // final newline
  const seen = new Map<string, number>();
  lines.forEach((tok, i) => {
    if (tok === '') throw new DataError({ file, line: i + 1 }, 'empty token');
    const prev = seen.get(tok);
    if (prev !== undefined) throw new DataError({ file, line: i + 1 }, `duplicate token "${tok}" (first on line ${prev + 1})`);
    seen.set(tok, i);
  });
  checkSpecials(file, (t) => seen.has(t));
  return lines;
}

/** Loads a BERT vocab.txt. */
export function loadVocabTxt(file: string): HfWordPieceTokenizer {
  const tokens = parseVocabTxt(file, readText(file));
  return HfWordPieceTokenizer.fromTokens(tokens, file);
}

/** Loads a Hugging Face tokenizer.json with a WordPiece model (its normalizer and pre-tokenizer
 *  are kept as written; truncation and padding are switched off). */
export function loadTokenizerJson(file: string): HfWordPieceTokenizer {
  const text = readText(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DataError({ file }, `invalid JSON: ${(e as Error).message}`);
  }
  const model = (json as { model?: { type?: unknown; vocab?: unknown } } | null)?.model;
  if (!model || typeof model !== 'object') throw new DataError({ file }, `no "model" section`);
  if (model.type !== 'WordPiece') throw new DataError({ file }, `model.type is ${JSON.stringify(model.type)}, expected "WordPiece"`);
  if (!model.vocab || typeof model.vocab !== 'object') throw new DataError({ file }, `model.vocab is missing`);
  const vocab = model.vocab as Record<string, unknown>;
  if (Object.keys(vocab).length === 0) throw new DataError({ file }, `model.vocab is empty`);
  const ids = new Map<number, string>();
  for (const [tok, id] of Object.entries(vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new DataError({ file }, `model.vocab["${tok}"]: id ${JSON.stringify(id)} is not a non-negative integer`);
    const prev = ids.get(id);
    if (prev !== undefined) throw new DataError({ file }, `model.vocab: id ${id} given to both "${prev}" and "${tok}"`);
    ids.set(id, tok);
  }
  checkSpecials(file, (t) => Object.prototype.hasOwnProperty.call(vocab, t));
  let tok: Tokenizer;
  try {
    tok = Tokenizer.fromString(text);
  } catch (e) {
    throw new DataError({ file }, `not a valid tokenizer.json: ${(e as Error).message}`);
  }
  return new HfWordPieceTokenizer(tok, file);
}

/** Loads vocab.txt, tokenizer.json, or a folder containing one of them. */
export function loadTokenizer(p: string): HfWordPieceTokenizer {
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
    const json = path.join(p, 'tokenizer.json');
    if (fs.existsSync(json)) return loadTokenizerJson(json);
    const txt = path.join(p, 'vocab.txt');
    if (fs.existsSync(txt)) return loadVocabTxt(txt);
    throw new DataError({ file: p }, `folder has neither tokenizer.json nor vocab.txt`);
  }
  return p.toLowerCase().endsWith('.json') ? loadTokenizerJson(p) : loadVocabTxt(p);
}
