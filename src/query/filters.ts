import type { ColumnDeclaration, DatasetDeclaration } from '../domain/declaration.js';
import { badInput } from '../errors.js';
import type { WhereInput } from './types.js';

/** A validated predicate on one declared column. Values always travel as SQL parameters. */
export interface Filter {
  column: ColumnDeclaration;
  op: 'eq' | 'in' | 'gte' | 'lte';
  value: string | number | (string | number)[];
}

const MAX_IN = 1000;
const MAX_STRING = 200;

/** Columns a caller may filter on: numeric and categorical always; ids and text only when open. */
export function filterableColumns(ds: DatasetDeclaration, open: boolean): ColumnDeclaration[] {
  return ds.columns.filter((c) => c.type === 'integer' || c.type === 'float' || c.type === 'categorical' || open);
}

export function compileWhere(ds: DatasetDeclaration, where: WhereInput | null | undefined, open: boolean): Filter[] {
  if (!where) return [];
  const allowed = new Map(filterableColumns(ds, open).map((c) => [c.name, c]));
  const out: Filter[] = [];
  for (const name of Object.keys(where).sort()) {
    const f = where[name];
    if (f == null) continue;
    const column = allowed.get(name);
    if (!column) throw badInput(`"${name}" is not a filterable column of ${ds.name}.`, { field: 'where' });
    for (const op of ['eq', 'in', 'gte', 'lte'] as const) {
      const v = f[op];
      if (v == null) continue;
      if (op === 'in') {
        if (!Array.isArray(v) || v.length === 0 || v.length > MAX_IN)
          throw badInput(`where.${name}.in needs 1 to ${MAX_IN} values.`, { field: `where.${name}.in` });
        out.push({ column, op, value: [...new Set(v.map((x) => checkValue(column, x, `where.${name}.in`)))].sort() });
      } else if (op === 'gte' || op === 'lte') {
        if (column.type !== 'integer' && column.type !== 'float')
          throw badInput(`where.${name}.${op} applies to numeric columns only.`, { field: `where.${name}.${op}` });
        out.push({ column, op, value: checkValue(column, v, `where.${name}.${op}`) });
      } else {
        out.push({ column, op, value: checkValue(column, v as string | number, `where.${name}.eq`) });
      }
    }
  }
  return out;
}

function checkValue(c: ColumnDeclaration, v: unknown, field: string): string | number {
  if (c.type === 'integer' || c.type === 'float') {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n)) throw badInput(`${field} must be a number.`, { field });
    if (c.type === 'integer' && !Number.isInteger(n)) throw badInput(`${field} must be an integer.`, { field });
    return n;
  }
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_STRING)
    throw badInput(`${field} must be a non-empty string of at most ${MAX_STRING} characters.`, { field });
  // A public category list is public: naming a value outside it is a caller mistake worth reporting.
  if (c.categories && !c.categories.includes(v))
    throw badInput(`${field}: "${v}" is not a category of ${c.name} (see the catalog).`, { field });
  return v;
}

/** SQL for the filters, numbering parameters after `params` (which it extends). */
export function filterSql(filters: Filter[], params: unknown[]): string {
  const parts = filters.map((f) => {
    const col = `"${f.column.sql}"`;
    const cast = f.column.type === 'integer' ? 'integer' : f.column.type === 'float' ? 'double precision' : 'text';
    params.push(f.value);
    const p = `$${params.length}`;
    switch (f.op) {
      case 'eq':
        return `${col} = ${p}::${cast}`;
      case 'in':
        return `${col} = ANY(${p}::${cast}[])`;
      case 'gte':
        return `${col} >= ${p}::${cast}`;
      case 'lte':
        return `${col} <= ${p}::${cast}`;
    }
  });
  return parts.length ? parts.join(' AND ') : 'TRUE';
}
