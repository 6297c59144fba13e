/**
 * csv.ts: CSV export of the renderer's tables (RFC 4180: comma separated, CRLF, fields quoted when
 * they hold a comma, quote or line break; quotes doubled). Numbers use the shortest round-trip
 * decimal and NaN / Infinity by name, like `lshlab runs export`. Pure (no DOM), unit-tested.
 */

export type CsvValue = string | number | boolean | null | undefined;

export function csvField(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? csvNumber(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return String(v);
}

/** Header plus rows, CRLF line ends, a final line break. */
export function toCsv(header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** A file name safe on every OS from a free-form label ("Compare: loss" -> "compare-loss"). */
export function fileSlug(label: string): string {
  const s = label
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s || 'export';
}
