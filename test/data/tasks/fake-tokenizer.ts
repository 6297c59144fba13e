/**
 * fake-tokenizer.ts (test helper, not a test): a small, honest WordPieceTokenizer for the task
 * pipeline tests, so they do not depend on the real tokenizer. Words are runs of letters, marks
 * and digits; every other non-space character is a token of its own (an emoji is one token of
 * two UTF-16 units). Words longer than 8 code points are cut into 4-code-point pieces, the later
 * ones as "##piece", so spans inside words exist as in WordPiece. Offsets are exact UTF-16
 * indices into the original text; ids come from a fixed vocabulary, anything else is [UNK].
 */
import type { Encoding, SpecialTokens, WordPieceTokenizer } from '../../../src-main/data/types.js';

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
export const WORDS = [
  'the', 'a', 'an', 'of', 'and', 'in', 'to', 'is', 'was', 'what', 'who', 'where', 'when', 'cat',
  'dog', 'river', 'city', 'paris', 'london', 'king', 'queen', 'born', 'year', 'museum', 'café',
  'naïve', 'über', 'straße', '東京', '日本', 'ship', 'whale', 'sea', 'captain', 'ahab', 'moby',
  'dick', 'story', 'good', 'bad', 'film', 'not', 'very', '1851', '42', 'extr', '##aord', '##inar', '##y',
  '.', ',', '?', '!', '-', '\'', '"', '(', ')', '$', '😀', '🐋',
];

export class FakeTokenizer implements WordPieceTokenizer {
  readonly special: SpecialTokens = { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 };
  private readonly vocab: string[] = [...SPECIALS, ...WORDS];
  private readonly ids = new Map(this.vocab.map((t, i) => [t, i] as const));
  get vocabSize(): number {
    return this.vocab.length;
  }

  async encode(text: string): Promise<Encoding> {
    const ids: number[] = [];
    const offs: number[] = [];
    for (const m of text.matchAll(/[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}]/gu)) {
      const start = m.index!;
      const cps = Array.from(m[0]);
      if (cps.length <= 8) {
        ids.push(this.ids.get(m[0].toLowerCase()) ?? this.special.unk);
        offs.push(start, start + m[0].length);
        continue;
      }
      let pos = start;
      for (let i = 0; i < cps.length; i += 4) {
        const piece = cps.slice(i, i + 4).join('');
        const tok = (i ? '##' : '') + piece.toLowerCase();
        ids.push(this.ids.get(tok) ?? this.special.unk);
        offs.push(pos, pos + piece.length);
        pos += piece.length;
      }
    }
    return { ids: Int32Array.from(ids), offsets: Int32Array.from(offs) };
  }

  async encodeBatch(texts: string[]): Promise<Encoding[]> {
    return Promise.all(texts.map((t) => this.encode(t)));
  }
  idToToken(id: number): string | undefined {
    return this.vocab[id];
  }
  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }
  async save(): Promise<void> {
    throw new Error('FakeTokenizer.save: not needed by the task tests');
  }
}
