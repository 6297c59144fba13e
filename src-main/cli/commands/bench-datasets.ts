/**
 * `lshlab bench datasets [--tokenizer NAME|PATH] [--json]`: import and tokenization throughput on
 * the built-in text corpus (Brown + State of the Union + Moby-Dick, ~18 MB). The corpus is written
 * to a temp folder as .txt (one paragraph per line) and .jsonl (one {"text"} per paragraph); then
 *   parse     importRecords over each file (read + UTF-8 check + parse), MB/s of the file
 *   tokenize  buildTokenCache over the parsed records (encodeBatch chunks), tokens/s
 *   import    importDataset of the .txt into a temp lab (parse, split, tokenize, write, DB row), MB/s
 * The temp folder and lab are removed afterwards; the lab's own data is only read (its tokenizer).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildTokenCache } from '../../data/cache/token-cache.js';
import { importRecords } from '../../data/import/importer.js';
import { builtinTextDocuments } from '../../data/tokenizer/builtin-corpus.js';
import type { LocatedRecord } from '../../data/types.js';
import { importDataset } from '../../lab/datasets.js';
import { DEFAULT_TOKENIZER, resolveTokenizer } from '../../lab/tokenizers.js';
import { openStore, storePath } from '../../store/index.js';
import { packageVersion } from '../../engine/index.js';
import { defineCommand } from '../command.js';
import { num, Progress } from '../format.js';

const MB = 1e6;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const r = await f();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

export const benchDatasetsCommand = defineCommand({
  path: ['bench', 'datasets'],
  summary: 'time importing and tokenizing the built-in text corpus',
  usage: 'bench datasets [--tokenizer NAME|PATH] [--json]',
  details: 'Needs a tokenizer: by default the lab\'s builtin-wp8k (from `lshlab datasets add-builtin`).',
  flags: {
    tokenizer: { type: 'string', default: DEFAULT_TOKENIZER, metavar: 'NAME|PATH', description: 'tokenizer to time' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  async run(flags, ctx) {
    const tok = resolveTokenizer(ctx.dataDir().dir, flags.tokenizer);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-bench-datasets-'));
    try {
      const prep = new Progress(ctx.stderr, 'bench datasets: writing the built-in corpus');
      const paragraphs: string[] = [];
      for (const d of builtinTextDocuments()) for (const p of d.text.split('\n')) if (p.trim() !== '') paragraphs.push(p.replace(/\r/g, ' '));
      const txt = path.join(tmp, 'corpus.txt');
      const jsonl = path.join(tmp, 'corpus.jsonl');
      fs.writeFileSync(txt, paragraphs.join('\n') + '\n');
      fs.writeFileSync(jsonl, paragraphs.map((t) => JSON.stringify({ text: t })).join('\n') + '\n');
      prep.done();
      const parse = async (file: string): Promise<{ bytes: number; seconds: number; mb_per_s: number; records: LocatedRecord[] }> => {
        const bytes = fs.statSync(file).size;
        const [records, seconds] = await timed(async () => {
          const out: LocatedRecord[] = [];
          for await (const r of importRecords(file, { kind: 'text' })) out.push(r);
          return out;
        });
        return { bytes, seconds, mb_per_s: bytes / MB / seconds, records };
      };
      const p1 = new Progress(ctx.stderr, 'bench datasets: parse');
      const pTxt = await parse(txt);
      const pJsonl = await parse(jsonl);
      p1.done();
      const p2 = new Progress(ctx.stderr, `bench datasets: tokenize (${tok.name})`);
      const [cache, tokS] = await timed(() => buildTokenCache(pTxt.records, tok.tokenizer, { name: 'bench', kind: 'text', tokenizer: tok.name }));
      p2.done();
      const p3 = new Progress(ctx.stderr, 'bench datasets: import end to end');
      const lab = path.join(tmp, 'lab');
      fs.mkdirSync(lab);
      const store = openStore(storePath(lab));
      let impS: number;
      try {
        [, impS] = await timed(() => importDataset(store, lab, { path: txt, kind: 'text', name: 'bench', tokenizer: tok.path }));
      } finally {
        store.close();
      }
      p3.done();
      const chars = paragraphs.reduce((s, p) => s + p.length, 0);
      const r = {
        corpus: 'builtin text (Brown + SOTU + Moby-Dick), one paragraph per record',
        records: pTxt.records.length, chars, tokens: cache.header.numTokens, tokenizer: tok.name, vocab_size: tok.tokenizer.vocabSize,
        parse_txt: { bytes: pTxt.bytes, seconds: pTxt.seconds, mb_per_s: pTxt.mb_per_s },
        parse_jsonl: { bytes: pJsonl.bytes, seconds: pJsonl.seconds, mb_per_s: pJsonl.mb_per_s },
        tokenize: { seconds: tokS, tokens_per_s: cache.header.numTokens / tokS, mb_per_s: pTxt.bytes / MB / tokS },
        import_txt: { seconds: impS, mb_per_s: pTxt.bytes / MB / impS },
        cpu: os.cpus()[0]?.model ?? 'unknown', logical_cores: os.cpus().length, lshlab: packageVersion(),
        reproduce: `lshlab bench datasets --tokenizer ${flags.tokenizer}`,
      };
      if (flags.json) {
        ctx.out(JSON.stringify(r, null, 2));
        return 0;
      }
      ctx.out(`corpus        ${r.records} paragraphs, ${num(chars / 1e6)} M chars, ${num(r.tokens / 1e6)} M tokens (${tok.name}, vocab ${r.vocab_size})`);
      ctx.out(`parse txt     ${num(r.parse_txt.mb_per_s)} MB/s (${num(pTxt.bytes / MB)} MB in ${num(pTxt.seconds)} s)`);
      ctx.out(`parse jsonl   ${num(r.parse_jsonl.mb_per_s)} MB/s (${num(pJsonl.bytes / MB)} MB in ${num(pJsonl.seconds)} s)`);
      ctx.out(`tokenize      ${num(r.tokenize.tokens_per_s)} tokens/s (${num(tokS)} s)`);
      ctx.out(`import txt    ${num(r.import_txt.mb_per_s)} MB/s end to end (${num(impS)} s: parse, split, tokenize, write, row)`);
      ctx.out(`cpu           ${r.cpu}, ${r.logical_cores} logical cores`);
      ctx.out(`reproduce     ${r.reproduce}`);
      return 0;
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
});
