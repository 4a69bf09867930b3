/**
 * An in-memory MarginalOracle over integer-coded rows, for tests and the benchmark (the product's
 * oracle is a SQL GROUP BY). Column-major storage keeps counting one pass per query.
 */
import type { Domain, MarginalOracle } from './types.js';

export interface CodedTable {
  /** codes[k][r] = row r's code of domain column k. */
  codes: ArrayLike<number>[];
  rows: number;
}

/** Exact contingency table over `columns` (row-major, last column fastest). */
export function countTable(domain: Domain, data: CodedTable, columns: readonly string[]): Float64Array {
  const idx = columns.map((name) => {
    const k = domain.findIndex((c) => c.name === name);
    if (k < 0) throw new Error(`unknown column ${name}`);
    return k;
  });
  const dims = idx.map((k) => domain[k]!.size);
  const out = new Float64Array(dims.reduce((a, b) => a * b, 1));
  const cols = idx.map((k) => data.codes[k]!);
  // Unrolled loops for the common 1-3 column queries (the synthesizer asks hundreds of them).
  if (cols.length === 1) {
    const [a] = cols as [ArrayLike<number>];
    for (let r = 0; r < data.rows; r++) out[a[r]!]!++;
    return out;
  }
  if (cols.length === 2) {
    const [a, b] = cols as [ArrayLike<number>, ArrayLike<number>];
    const db = dims[1]!;
    for (let r = 0; r < data.rows; r++) out[a[r]! * db + b[r]!]!++;
    return out;
  }
  if (cols.length === 3) {
    const [a, b, c] = cols as [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
    const [db, dc] = [dims[1]!, dims[2]!];
    for (let r = 0; r < data.rows; r++) out[(a[r]! * db + b[r]!) * dc + c[r]!]!++;
    return out;
  }
  for (let r = 0; r < data.rows; r++) {
    let cell = 0;
    for (let j = 0; j < cols.length; j++) cell = cell * dims[j]! + cols[j]![r]!;
    out[cell]!++;
  }
  return out;
}

export function memoryOracle(domain: Domain, data: CodedTable): MarginalOracle {
  return async (columns) => countTable(domain, data, columns);
}
