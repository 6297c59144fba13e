import * as assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as fs from 'node:fs';
import { collect, rejectsData, tempDir, write } from './helpers';

const dir = tempDir('delim');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('GLUE SST-2 TSV (sentence<TAB>label with a header)', async () => {
  const f = write(dir, 'train.tsv', 'sentence\tlabel\nhide new secretions from the parental units \t0\nthat loves its characters \t1\n');
  const rs = await collect(f, { kind: 'classification', labels: ['0', '1'] });
  assert.deepEqual(rs.map((r) => r.record), [
    { kind: 'classification', text: 'hide new secretions from the parental units ', label: '0' },
    { kind: 'classification', text: 'that loves its characters ', label: '1' },
  ]);
  assert.deepEqual(rs.map((r) => r.at.line), [2, 3]);
});

test('CSV with RFC 4180 quoting: commas, "" escapes, quoted newlines, CRLF', async () => {
  const f = write(dir, 'q.csv', 'id,text,label\r\n1,"a, b",pos\r\n2,"say ""hi""",neg\r\n3,"two\r\nlines",pos\r\n4,plain,neg\r\n');
  const rs = await collect(f, { kind: 'classification' });
  assert.deepEqual(rs.map((r) => (r.record.kind === 'classification' ? r.record.text : '')), ['a, b', 'say "hi"', 'two\nlines', 'plain']);
  assert.deepEqual(rs.map((r) => r.at.line), [2, 3, 4, 6]);
});

test('selectable columns and header: false', async () => {
  const f = write(dir, 'nh.tsv', 'x\t1\ny\t0\n');
  const rs = await collect(f, { kind: 'classification', header: false, columns: { text: '0', label: '1' } });
  assert.equal(rs.length, 2);
  const g = write(dir, 'cols.csv', 'review,stars\ngreat,5\n');
  const [r] = await collect(g, { kind: 'classification', columns: { text: 'review', label: 'stars' } });
  assert.deepEqual(r!.record, { kind: 'classification', text: 'great', label: '5' });
});

test('ragged rows, missing columns, bad labels, quoting errors, header-only name the place', async () => {
  await rejectsData(collect(write(dir, 'r.tsv', 'sentence\tlabel\na\t1\nb\t0\textra\n'), { kind: 'classification' }),
    /r\.tsv: line 3: expected 2 columns, found 3/);
  await rejectsData(collect(write(dir, 'r2.csv', 'text,label\n"a,b"\n'), { kind: 'classification' }), /r2\.csv: line 2: expected 2 columns, found 1/);
  await rejectsData(collect(write(dir, 'm.tsv', 'sentence\tscore\na\t1\n'), { kind: 'classification' }), /m\.tsv: line 1: missing label column/);
  await rejectsData(collect(write(dir, 'l.tsv', 'sentence\tlabel\na\t1\nb\t2\n'), { kind: 'classification', labels: ['0', '1'] }),
    /l\.tsv: line 3: label "2" is not in the declared label set/);
  await rejectsData(collect(write(dir, 'u.csv', 'text,label\n"open,1\n'), { kind: 'classification' }), /u\.csv: line 2: unterminated quoted field/);
  await rejectsData(collect(write(dir, 'aq.csv', 'text,label\n"a"b,1\n'), { kind: 'classification' }), /line 2: unexpected character/);
  await rejectsData(collect(write(dir, 'h.csv', 'text,label\n'), { kind: 'classification' }), /h\.csv: no records/);
  await rejectsData(collect(write(dir, 'dup.csv', 'text,text\na,b\n'), { kind: 'text' }), /duplicate column "text"/);
});
