import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import type { ColumnDeclaration, DatasetDeclaration } from '../domain/declaration.js';
import type { Row } from './generators.js';

/**
 * CSV loading for a declared dataset: plain or gzipped (detected from the magic bytes, not the
 * name), the header checked against the declaration before any row is read, and each row checked
 * against the column's public bounds and categories. A row that breaks them is rejected and counted
 * (not clamped: the declaration's bounds are a promise about the data, so a violation is a data
 * error to report).
 */
export class CsvHeaderError extends Error {}

export interface Rejections {
  rows: number;
  /** Rejected rows by reason, e.g. `age: out of bounds [17, 90]`. */
  reasons: Map<string, number>;
}

export const headerOf = (c: ColumnDeclaration) => c.source ?? c.name;

export function isGzip(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

export function csvStream(file: string): Readable {
  const raw = createReadStream(file);
  return isGzip(file) ? raw.pipe(createGunzip()) : raw;
}

/** Errors for a header: missing and unknown columns, each with a "did you mean" when one is close. */
export function checkHeader(ds: DatasetDeclaration, ignore: string[], header: string[]): string[] {
  const expected = ds.columns.map(headerOf);
  const missing = expected.filter((h) => !header.includes(h));
  const unknown = header.filter((h) => !expected.includes(h) && !ignore.includes(h));
  const errors: string[] = [];
  for (const m of missing) {
    const guess = closest(m, unknown);
    errors.push(`column "${m}" is missing from the header${guess ? ` (did you mean "${guess}"? a header must match the declaration's source name exactly)` : ''}`);
  }
  for (const u of unknown) {
    const guess = closest(u, missing);
    errors.push(`header "${u}" is not a declared column${guess ? ` (did you mean "${guess}"?)` : '; declare it, or list it in source.ignore'}`);
  }
  return errors;
}

function closest(word: string, candidates: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = norm(c) === norm(word) ? 0 : editDistance(word.toLowerCase(), c.toLowerCase());
    if (d <= Math.max(2, Math.floor(word.length / 4)) && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** A typed value, or the reason the row is rejected. Empty and "?" are NULL (missing). */
export function csvValue(c: ColumnDeclaration, raw: string | undefined): { value: string | number | null } | { reject: string } {
  if (raw === undefined || raw === '' || raw === '?') return { value: null };
  if (c.type === 'integer' || c.type === 'float') {
    const n = Number(raw);
    if (!Number.isFinite(n)) return { reject: `${c.name}: not a number` };
    if (c.type === 'integer' && !Number.isInteger(n)) return { reject: `${c.name}: not an integer` };
    if (c.bounds && (n < c.bounds[0] || n > c.bounds[1])) return { reject: `${c.name}: out of bounds [${c.bounds[0]}, ${c.bounds[1]}]` };
    return { value: n };
  }
  if (c.categories && !c.categories.includes(raw)) return { reject: `${c.name}: not a declared category` };
  return { value: raw };
}

/** The rows of a CSV dataset in batches; a bad header throws before any row is yielded. */
export async function* csvBatches(ds: DatasetDeclaration, file: string, batchSize: number, rejections: Rejections): AsyncGenerator<Row[]> {
  const ignore = ds.source.kind === 'csv' ? (ds.source.ignore ?? []) : [];
  const parser = csvStream(file).pipe(parse({ trim: true, relax_column_count: true, skip_empty_lines: true }));
  let batch: Row[] = [];
  let index: Map<string, number> | undefined;
  for await (const record of parser as AsyncIterable<string[]>) {
    if (!index) {
      const errors = checkHeader(ds, ignore, record);
      if (errors.length) throw new CsvHeaderError(`${file}: ${errors.join('; ')}`);
      index = new Map(record.map((h, i) => [h, i]));
      continue;
    }
    const row: Row = {};
    let reject: string | undefined = record.length === index.size ? undefined : `wrong number of fields (${record.length}, header has ${index.size})`;
    for (const c of reject ? [] : ds.columns) {
      const v = csvValue(c, record[index.get(headerOf(c))!]);
      if ('reject' in v) {
        reject = v.reject;
        break;
      }
      row[c.sql] = v.value;
    }
    if (reject) {
      rejections.rows++;
      rejections.reasons.set(reject, (rejections.reasons.get(reject) ?? 0) + 1);
      continue;
    }
    batch.push(row);
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/** Counts data lines (for the progress total) by streaming, whatever the file's size. */
export async function countRows(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of csvStream(file) as AsyncIterable<Buffer>) for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) n++;
  return Math.max(0, n - 1);
}

/**
 * Rows as PostgreSQL CSV text for COPY, the columns in the given order. NULL is an unquoted empty
 * field; a text value is quoted when it is empty (else it would read as NULL) or holds a quote, a
 * comma, a line break or a backslash (a lone `\\.` line would otherwise end the data). Numbers
 * are finite (checked against the declaration when read).
 */
export function toCsv(rows: readonly Row[], columns: readonly string[]): string {
  let out = '';
  for (const row of rows) {
    for (let i = 0; i < columns.length; i++) {
      const v = row[columns[i]!];
      if (i > 0) out += ',';
      if (v === null || v === undefined) continue;
      if (typeof v === 'number') out += String(v);
      else out += v === '' || /[",\r\n\\]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
    }
    out += '\n';
  }
  return out;
}
