/**
 * squad.ts: SQuAD v1.1 / v2.0 JSON importer (kind 'qa'): data[].paragraphs[].qas[] with
 * answers[{text, answer_start}], and in v2.0 is_impossible with plausible_answers (kept out of
 * `answers`: an unanswerable question has none). Every answer offset is checked against the
 * context; errors name the JSON path (data[3].paragraphs[0].qas[2].answers[0]).
 * Not streamed: the file is read and parsed whole (JSON.parse), which is fine for SQuAD-size files
 * (train-v2.0.json is ~40 MB, ~5x that in memory) but not for multi-gigabyte JSON; the strict
 * UTF-8 check reports the line of a bad byte. It does not accept other JSON layouts.
 */
import * as fs from 'node:fs';
import { DataError, type LocatedRecord, type QaAnswer } from '../types';
import { checkAborted, checkInputFile, type ImportOptions } from './common';
import { firstInvalidUtf8 } from './lines';
import { checkAnswers } from './records';

const MAX_SQUAD_BYTES = 1024 * 1024 * 1024;

function lineOfByte(buf: Buffer, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (buf[i] === 0x0a) line++;
  return line;
}

export async function* importSquad(file: string, opts: ImportOptions): AsyncGenerator<LocatedRecord> {
  if (opts.kind !== 'qa') throw new DataError({ file }, `SQuAD JSON can only be imported as kind "qa", not "${opts.kind}"`);
  const size = await checkInputFile(file);
  if (size > MAX_SQUAD_BYTES) throw new DataError({ file }, `SQuAD JSON larger than 1 GiB is not supported (not streamed)`);
  let buf = await fs.promises.readFile(file, opts.signal ? { signal: opts.signal } : {}).catch((err: unknown) => {
    checkAborted(opts.signal, file);
    throw new DataError({ file }, `cannot read: ${(err as Error).message}`);
  });
  opts.onProgress?.(size, size);
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
    buf = buf.subarray(3);
    opts.onNote?.({ file, line: 1 }, 'byte-order mark stripped');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
  } catch {
    throw new DataError({ file, line: lineOfByte(buf, firstInvalidUtf8(buf)) }, 'invalid UTF-8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new DataError({ file }, `invalid JSON: ${(err as Error).message}`);
  }
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new DataError({ file, jsonPath: path }, 'expected an object');
    return v as Record<string, unknown>;
  };
  const arr = (v: unknown, path: string): unknown[] => {
    if (!Array.isArray(v)) throw new DataError({ file, jsonPath: path }, 'expected an array');
    return v;
  };
  const str = (v: unknown, path: string): string => {
    if (typeof v !== 'string') throw new DataError({ file, jsonPath: path }, 'expected a string');
    return v;
  };
  const root = obj(doc, '$');
  const data = arr(root['data'], 'data');
  const split = typeof root['split'] === 'string' ? root['split'] : undefined;
  let count = 0;
  for (let d = 0; d < data.length; d++) {
    checkAborted(opts.signal, file);
    const article = obj(data[d], `data[${d}]`);
    const paragraphs = arr(article['paragraphs'], `data[${d}].paragraphs`);
    for (let p = 0; p < paragraphs.length; p++) {
      const pp = `data[${d}].paragraphs[${p}]`;
      const para = obj(paragraphs[p], pp);
      const context = str(para['context'], `${pp}.context`);
      const qas = arr(para['qas'], `${pp}.qas`);
      for (let q = 0; q < qas.length; q++) {
        const qp = `${pp}.qas[${q}]`;
        const qa = obj(qas[q], qp);
        const question = str(qa['question'], `${qp}.question`);
        const id = qa['id'] === undefined ? qp : String(qa['id']);
        const impossible = qa['is_impossible'] === true;
        if (qa['is_impossible'] !== undefined && typeof qa['is_impossible'] !== 'boolean') {
          throw new DataError({ file, jsonPath: `${qp}.is_impossible` }, 'expected true or false');
        }
        const answers: QaAnswer[] = [];
        const rawAnswers = qa['answers'] === undefined && impossible ? [] : arr(qa['answers'], `${qp}.answers`);
        for (let a = 0; a < rawAnswers.length; a++) {
          const ap = `${qp}.answers[${a}]`;
          const ans = obj(rawAnswers[a], ap);
          const start = ans['answer_start'];
          if (typeof start !== 'number') throw new DataError({ file, jsonPath: `${ap}.answer_start` }, 'expected a number');
          const one = { text: str(ans['text'], `${ap}.text`), start };
          checkAnswers(context, [one], { file, jsonPath: ap });
          answers.push(one);
        }
        if (impossible && answers.length > 0) {
          throw new DataError({ file, jsonPath: `${qp}.answers` }, 'an impossible question must have no answers (use plausible_answers)');
        }
        if (!impossible && answers.length === 0) {
          throw new DataError({ file, jsonPath: `${qp}.answers` }, 'an answerable question needs at least one answer');
        }
        if (Array.isArray(qa['plausible_answers'])) {
          qa['plausible_answers'].forEach((pa, i) => {
            const ap = `${qp}.plausible_answers[${i}]`;
            const o = obj(pa, ap);
            if (typeof o['answer_start'] !== 'number') throw new DataError({ file, jsonPath: `${ap}.answer_start` }, 'expected a number');
            checkAnswers(context, [{ text: str(o['text'], `${ap}.text`), start: o['answer_start'] }], { file, jsonPath: ap });
          });
        }
        count++;
        const rec: LocatedRecord = {
          record: { kind: 'qa', id, question, context, answers, isImpossible: impossible },
          at: { file, jsonPath: qp },
        };
        if (split !== undefined) rec.split = split;
        yield rec;
      }
    }
  }
  if (count === 0) throw new DataError({ file, jsonPath: 'data' }, 'no questions');
}
