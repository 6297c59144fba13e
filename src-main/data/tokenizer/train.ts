/**
 * train.ts: trains a BERT WordPiece vocabulary of a chosen size on texts (an iterable or async
 * iterable of strings, or files read line by line), deterministically: the same input gives the
 * same vocabulary, ids included. The vocabulary starts with [PAD] [UNK] [CLS] [SEP] [MASK], then the
 * alphabet (single chars, then `##` chars), then learned pieces in the order they were learned.
 *
 * Why not the binding's `Tokenizer.train(files)`: tokenizers@0.23.2 for Node exposes no trainer
 * options (the `Trainer` class has no constructor or factory), so train() uses the model's default
 * WordPieceTrainer: vocab size fixed at 30000, no special tokens, min frequency 0; and its tie
 * order follows Rust HashMap iteration. So the algorithm is written here: the same one as Hugging
 * Face's WordPieceTrainer (BPE-style merges of the most frequent adjacent pair, with `##` marking
 * continuations), with ties broken by ids. Words are produced by the binding's own BERT normalizer
 * and pre-tokenizer, so training sees exactly what encode sees; no temp files are needed.
 *
 * Not here: likelihood-scored WordPiece (Google's unreleased trainer), Unigram/BPE models.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { bertNormalizer, bertPreTokenizer } from 'tokenizers';
import { HfWordPieceTokenizer, MAX_INPUT_CHARS_PER_WORD, SPECIAL_TOKENS } from './wordpiece.js';

export interface TrainOptions {
  /** Wanted vocabulary size, special tokens included (fewer if the corpus runs out of pairs). */
  vocabSize: number;
  /** A pair must occur this many times to be merged (default 2). */
  minFrequency?: number;
  /** At most this many distinct characters, the most frequent (default: all that fit). */
  limitAlphabet?: number;
  /** Names the corpus in errors and in the tokenizer's source (default "corpus"). */
  source?: string;
}

/** Reads text files line by line (one text per line, bounded memory). */
export async function* linesOfFiles(files: readonly string[]): AsyncGenerator<string> {
  for (const f of files) {
    if (!fs.existsSync(f)) throw new Error(`${f}: no such file`);
    const rl = readline.createInterface({ input: fs.createReadStream(f, 'utf8'), crlfDelay: Infinity });
    for await (const line of rl) yield line;
  }
}

/** Counts the pre-tokenized, normalized words of the texts. */
async function countWords(texts: Iterable<string> | AsyncIterable<string>): Promise<Map<string, number>> {
  const norm = bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true });
  const pre = bertPreTokenizer();
  const counts = new Map<string, number>();
  for await (const text of texts) {
    if (!text) continue;
    for (const [w] of pre.preTokenizeString(norm.normalizeString(text))) {
      if ([...w].length > MAX_INPUT_CHARS_PER_WORD) continue; // always [UNK] at encode time
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/** Max-heap of (count, pair key): larger count first, then smaller key (deterministic). */
class PairHeap {
  private c: number[] = [];
  private k: number[] = [];
  get size(): number {
    return this.c.length;
  }
  private before(i: number, j: number): boolean {
    return this.c[i]! > this.c[j]! || (this.c[i] === this.c[j] && this.k[i]! < this.k[j]!);
  }
  private swap(i: number, j: number): void {
    [this.c[i], this.c[j]] = [this.c[j]!, this.c[i]!];
    [this.k[i], this.k[j]] = [this.k[j]!, this.k[i]!];
  }
  push(count: number, key: number): void {
    this.c.push(count);
    this.k.push(key);
    for (let i = this.c.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.c[0]!, this.k[0]!];
    const last = this.c.length - 1;
    this.swap(0, last);
    this.c.pop();
    this.k.pop();
    for (let i = 0; ; ) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < this.c.length && this.before(l, m)) m = l;
      if (r < this.c.length && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

const SHIFT = 2 ** 21; // pair key = a * SHIFT + b (ids < 2M)

/** Trains the vocabulary; returns the tokens in id order. */
export async function trainVocab(texts: Iterable<string> | AsyncIterable<string>, opts: TrainOptions): Promise<string[]> {
  const source = opts.source ?? 'corpus';
  const minFreq = opts.minFrequency ?? 2;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < SPECIAL_TOKENS.length + 1 || opts.vocabSize >= SHIFT) {
    throw new Error(`${source}: vocabulary size ${opts.vocabSize} must be an integer between ${SPECIAL_TOKENS.length + 1} and ${SHIFT - 1}`);
  }
  const counts = await countWords(texts);
  if (counts.size === 0) throw new Error(`${source}: no words to train on (empty corpus)`);

  // Alphabet: the most frequent characters (ties by code point), then both forms of each.
  const charFreq = new Map<string, number>();
  for (const [w, n] of counts) for (const ch of w) charFreq.set(ch, (charFreq.get(ch) ?? 0) + n);
  const budget = opts.limitAlphabet ?? opts.vocabSize - SPECIAL_TOKENS.length;
  const alphabet = [...charFreq.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, Math.max(1, budget))
    .map(([ch]) => ch)
    .sort();
  const inAlphabet = new Set(alphabet);

  const vocab: string[] = [...SPECIAL_TOKENS];
  const ids = new Map<string, number>();
  const add = (t: string): number => {
    let id = ids.get(t);
    if (id === undefined) {
      id = vocab.length;
      vocab.push(t);
      ids.set(t, id);
    }
    return id;
  };
  SPECIAL_TOKENS.forEach((t, i) => ids.set(t, i));
  const contChars = new Set<string>();
  for (const w of counts.keys()) [...w].slice(1).forEach((ch) => contChars.add(ch));
  for (const ch of alphabet) if (vocab.length < opts.vocabSize) add(ch);
  for (const ch of alphabet) if (contChars.has(ch) && vocab.length < opts.vocabSize) add('##' + ch);

  // Words as symbol-id sequences (words with characters outside the alphabet are skipped).
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [w, n] of counts) {
    const chars = [...w];
    if (!chars.every((c, i) => inAlphabet.has(c) && ids.has(i === 0 ? c : '##' + c))) continue;
    words.push(chars.map((c, i) => ids.get(i === 0 ? c : '##' + c)!));
    freqs.push(n);
  }
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: number, changed: Set<number>): void => {
    const s = words[w]!;
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i]! * SHIFT + s[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * freqs[w]!);
      changed.add(key);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
    }
  };
  const heap = new PairHeap();
  const init = new Set<number>();
  for (let w = 0; w < words.length; w++) addPairs(w, +1, init);
  for (const key of init) heap.push(pairCount.get(key)!, key);

  while (vocab.length < opts.vocabSize && heap.size > 0) {
    const [count, key] = heap.pop();
    if (pairCount.get(key) !== count) continue; // stale entry
    if (count < minFreq) break;
    const a = Math.floor(key / SHIFT), b = key % SHIFT;
    const merged = add(vocab[a]! + vocab[b]!.slice(2)); // b is always a ## continuation
    const changed = new Set<number>();
    for (const w of [...(pairWords.get(key) ?? [])].sort((x, y) => x - y)) {
      const s = words[w]!;
      let has = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) has = true;
      if (!has) continue;
      addPairs(w, -1, changed);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(s[i]!);
      }
      words[w] = out;
      addPairs(w, +1, changed);
    }
    pairWords.delete(key);
    for (const k of changed) {
      const c = pairCount.get(k)!;
      if (c > 0) heap.push(c, k);
      else pairCount.delete(k);
    }
  }
  return vocab;
}

/** Trains a BERT WordPiece tokenizer on texts. */
export async function trainWordPiece(texts: Iterable<string> | AsyncIterable<string>, opts: TrainOptions): Promise<HfWordPieceTokenizer> {
  const tokens = await trainVocab(texts, opts);
  return HfWordPieceTokenizer.fromTokens(tokens, opts.source ?? 'corpus');
}

/** Trains on text files, one text per line. */
export async function trainWordPieceFromFiles(files: readonly string[], opts: TrainOptions): Promise<HfWordPieceTokenizer> {
  return trainWordPiece(linesOfFiles(files), { ...opts, source: opts.source ?? files.join(', ') });
}
