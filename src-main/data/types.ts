/**
 * types.ts: the contract between the data modules: dataset records as importers produce them,
 * where a record came from (for errors that name the file and line), and the tokenizer that turns
 * text into ids with exact character offsets. Importers (import/), the tokenizer (tokenizer/) and
 * the task pipelines (tasks/) all speak these types; nothing here does any work.
 */

/** The three dataset kinds of the BERT-LSH study. */
export type DatasetKind = 'text' | 'classification' | 'qa';

/** Where a record came from: the file and a line (text, CSV/TSV, JSONL), a row (Parquet) or a
 *  JSON path (SQuAD), so that an error can point at it. */
export interface SourceLocation {
  file: string;
  line?: number;
  row?: number;
  jsonPath?: string;
}

/** One document of a text corpus (for masked-LM pretraining). */
export interface TextRecord {
  kind: 'text';
  text: string;
}

/** One classification example: a text, an optional second text, and its label as written in the
 *  source (the dataset declares the label set and maps labels to ids). */
export interface ClassificationRecord {
  kind: 'classification';
  text: string;
  textPair?: string;
  label: string;
}

/** One answer span: its text and its start as a character offset into the context (JS string
 *  index, i.e. UTF-16 code units, as SQuAD's answer_start after decoding). */
export interface QaAnswer {
  text: string;
  start: number;
}

/** One extractive-QA example (SQuAD v1.1 / v2.0 layout). */
export interface QaRecord {
  kind: 'qa';
  id: string;
  question: string;
  context: string;
  answers: QaAnswer[];
  /** SQuAD v2.0 unanswerable question (answers is then empty). */
  isImpossible: boolean;
}

export type DatasetRecord = TextRecord | ClassificationRecord | QaRecord;

/** A record with its origin. */
export interface LocatedRecord<R extends DatasetRecord = DatasetRecord> {
  record: R;
  at: SourceLocation;
  /** A split given by the source (e.g. SQuAD train/dev files, a `split` column), if any. */
  split?: string;
}

/** A data error that names the place at fault: "data/sst2.tsv: line 17: expected 2 columns, found 3". */
export class DataError extends Error {
  constructor(
    readonly at: SourceLocation,
    readonly problem: string,
  ) {
    super(`${formatLocation(at)}: ${problem}`);
    this.name = 'DataError';
  }
}

export function formatLocation(at: SourceLocation): string {
  let s = at.file;
  if (at.line !== undefined) s += `: line ${at.line}`;
  if (at.row !== undefined) s += `: row ${at.row}`;
  if (at.jsonPath !== undefined) s += `: ${at.jsonPath}`;
  return s;
}

/** The special tokens of a BERT vocabulary and their ids. */
export interface SpecialTokens {
  pad: number;
  unk: number;
  cls: number;
  sep: number;
  mask: number;
}

/** Token ids of a text with, for each token, its [start, end) character offsets into the text
 *  (JS string indices: UTF-16 code units), without special tokens. */
export interface Encoding {
  ids: Int32Array;
  offsets: Int32Array;  // 2 per token: start, end
}

/** A BERT WordPiece tokenizer (lowercase, accents stripped, punctuation split, ## continuations). */
export interface WordPieceTokenizer {
  readonly vocabSize: number;
  readonly special: SpecialTokens;
  /** Encodes one text (no [CLS]/[SEP]); offsets are exact UTF-16 indices into `text`. */
  encode(text: string): Promise<Encoding>;
  /** Encodes many texts at once (faster; same results as encode). */
  encodeBatch(texts: string[]): Promise<Encoding[]>;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  /** Writes vocab.txt and tokenizer.json into dir (atomically). */
  save(dir: string): Promise<void>;
}
