/**
 * wordpiece.ts: the BERT WordPiece tokenizer of lshlab, backed by Hugging Face's Rust `tokenizers`
 * (0.23.2, Node-API): BERT normalizer (clean text, CJK chars split, lowercase, strip accents),
 * BERT pre-tokenizer (whitespace + punctuation split), WordPiece model with `##` continuations,
 * [UNK] and max_input_chars_per_word = 100 (as Google's BERT). encode/encodeBatch return ids and
 * offsets WITHOUT special tokens; offsets are exact UTF-16 indices into the original text.
 *
 * Offsets: the binding reports offsets in Unicode scalar values (code points) of the ORIGINAL
 * string (it maps normalisation back through its alignments, so accent stripping and lowercasing
 * still point at the original span), not UTF-16 code units and not bytes. JS strings index UTF-16
 * units, so any text with astral characters (emoji, rare CJK) would be off; `codePointToUtf16`
 * converts them (the one piece the binding cannot give us). One more fix: a combining mark that
 * the accent stripping removes (decomposed "cafe\u0301", the emoji variation selector U+FE0F) is
 * left out of every span by the binding ([0,4] for "cafe\u0301"); `extendOverMarks` makes the span
 * cover it ([0,5]), so slicing a span never cuts a character from its accents (SQuAD answers).
 *
 * Not here: training (train.ts), loading from files (load.ts), [CLS]/[SEP] framing, truncation and
 * windows (the task pipelines do those).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer, WordPiece, bertNormalizer, bertPreTokenizer, bertProcessing } from 'tokenizers';
import type { Encoding, SpecialTokens, WordPieceTokenizer } from '../types.js';

/** The BERT special tokens, in the order lshlab's trained vocabularies put them first. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
/** Google BERT's limit: a longer word becomes a single [UNK]. */
export const MAX_INPUT_CHARS_PER_WORD = 100;

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Converts offsets counted in code points of `text` (as the binding returns them) to UTF-16 code
 * unit indices (JS string indices), in place. A lone surrogate counts as one code point on both
 * sides (JS iteration and the binding's U+FFFD replacement), so it stays consistent.
 */
export function codePointToUtf16(text: string, offsets: Int32Array): Int32Array {
  if (!SURROGATE.test(text)) return offsets; // BMP only: code points == UTF-16 units
  const map: number[] = [];
  let u = 0;
  for (const ch of text) {
    map.push(u);
    u += ch.length;
  }
  map.push(u);
  for (let i = 0; i < offsets.length; i++) {
    const cp = offsets[i]!;
    offsets[i] = cp < map.length ? map[cp]! : u;
  }
  return offsets;
}

const MARK = /\p{M}/u;

/**
 * Extends each token's end over the combining marks that directly follow it and belong to no
 * token (the normalizer dropped them), in place. Offsets are UTF-16 indices into `text`.
 */
export function extendOverMarks(text: string, offsets: Int32Array): Int32Array {
  if (!MARK.test(text)) return offsets;
  const n = offsets.length / 2;
  for (let i = 0; i < n; i++) {
    const limit = i + 1 < n ? offsets[2 * i + 2]! : text.length;
    let end = offsets[2 * i + 1]!;
    while (end < limit) {
      const cp = text.codePointAt(end)!;
      const ch = String.fromCodePoint(cp);
      if (!MARK.test(ch) || end + ch.length > limit) break;
      end += ch.length;
    }
    offsets[2 * i + 1] = end;
  }
  return offsets;
}

/** Builds the BERT pipeline around a WordPiece vocabulary (token → id). */
export function bertTokenizerFromVocab(vocab: Record<string, number>): Tokenizer {
  const model = WordPiece.init(vocab, {
    unkToken: '[UNK]',
    continuingSubwordPrefix: '##',
    maxInputCharsPerWord: MAX_INPUT_CHARS_PER_WORD,
  });
  const tok = new Tokenizer(model);
  configureBert(tok);
  return tok;
}

/** Sets the BERT normalizer, pre-tokenizer and post-processor (the latter only matters to tools
 *  that read our tokenizer.json: lshlab encodes without special tokens). */
export function configureBert(tok: Tokenizer): void {
  tok.setNormalizer(
    bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true }),
  );
  tok.setPreTokenizer(bertPreTokenizer());
  const sep = tok.tokenToId('[SEP]');
  const cls = tok.tokenToId('[CLS]');
  if (sep !== null && cls !== null) tok.setPostProcessor(bertProcessing(['[SEP]', sep], ['[CLS]', cls]));
}

/** Looks up the five special tokens; `source` names the file (or corpus) for the error. */
export function findSpecialTokens(tok: Tokenizer, source: string): SpecialTokens {
  const missing: string[] = [];
  const id = (t: string): number => {
    const v = tok.tokenToId(t);
    if (v === null || v === undefined) missing.push(t);
    return v ?? -1;
  };
  const special = { pad: id('[PAD]'), unk: id('[UNK]'), cls: id('[CLS]'), sep: id('[SEP]'), mask: id('[MASK]') };
  if (missing.length > 0) throw new Error(`${source}: vocabulary lacks special token(s) ${missing.join(' ')}`);
  return special;
}

/** Writes `data` to `file` atomically: a temp file in the same folder, then rename. */
export function writeFileAtomic(file: string, data: string | ((tmp: string) => void)): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    if (typeof data === 'string') fs.writeFileSync(tmp, data, 'utf8');
    else data(tmp);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`${file}: cannot write: ${(e as Error).message}`);
  }
}

/** WordPieceTokenizer over a configured `tokenizers` Tokenizer. */
export class HfWordPieceTokenizer implements WordPieceTokenizer {
  readonly vocabSize: number;
  readonly special: SpecialTokens;

  /** `source` names where the vocabulary came from (file or corpus), for errors. */
  constructor(
    readonly tokenizer: Tokenizer,
    readonly source: string,
  ) {
    tokenizer.disableTruncation();
    tokenizer.disablePadding();
    this.vocabSize = tokenizer.getVocabSize(true);
    this.special = findSpecialTokens(tokenizer, source);
  }

  /** A BERT tokenizer over `tokens` (id = index), e.g. the lines of a vocab.txt. */
  static fromTokens(tokens: readonly string[], source: string): HfWordPieceTokenizer {
    const vocab: Record<string, number> = Object.create(null);
    tokens.forEach((t, i) => (vocab[t] = i));
    return new HfWordPieceTokenizer(bertTokenizerFromVocab(vocab), source);
  }

  async encode(text: string): Promise<Encoding> {
    const enc = await this.tokenizer.encode(text, null, { addSpecialTokens: false });
    return toEncoding(text, enc.getIds(), enc.getOffsets());
  }

  async encodeBatch(texts: string[]): Promise<Encoding[]> {
    if (texts.length === 0) return [];
    const encs = await this.tokenizer.encodeBatch(texts, { addSpecialTokens: false });
    return encs.map((e, i) => toEncoding(texts[i]!, e.getIds(), e.getOffsets()));
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.idToToken(id) ?? undefined;
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.tokenToId(token) ?? undefined;
  }

  /** The vocabulary in id order (ids must be 0..n-1 without gaps, as vocab.txt needs). */
  tokens(): string[] {
    const vocab = this.tokenizer.getVocab(true);
    const out: string[] = new Array(this.vocabSize);
    for (const [t, id] of Object.entries(vocab)) out[id] = t;
    for (let i = 0; i < out.length; i++) {
      if (out[i] === undefined) throw new Error(`${this.source}: vocabulary has no token with id ${i}`);
    }
    return out;
  }

  async save(dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    const tokens = this.tokens();
    writeFileAtomic(path.join(dir, 'vocab.txt'), tokens.join('\n') + '\n');
    writeFileAtomic(path.join(dir, 'tokenizer.json'), (tmp) => this.tokenizer.save(tmp, true));
  }
}

function toEncoding(text: string, ids: number[], offsets: number[][]): Encoding {
  const flat = new Int32Array(offsets.length * 2);
  for (let i = 0; i < offsets.length; i++) {
    flat[2 * i] = offsets[i]![0]!;
    flat[2 * i + 1] = offsets[i]![1]!;
  }
  return { ids: Int32Array.from(ids), offsets: extendOverMarks(text, codePointToUtf16(text, flat)) };
}
