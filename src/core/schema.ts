import type { ColumnDeclaration, DatasetDeclaration } from '../domain/declaration.js';
import type { Contribution } from './stability.js';

/** A column of a relation in the plan: its public description and its name in generated SQL. */
export interface ColumnInfo {
  /** Name in requests: the declared name, or `<dataset>.<column>` for a joined table. */
  name: string;
  /** Column name in the relation's SQL output. */
  sql: string;
  type: ColumnDeclaration['type'];
  bounds?: [number, number];
  categories?: string[];
  granularity?: number;
  description: string;
  /** Whether callers may filter and group on it (public values, or numeric/categorical). */
  filterable: boolean;
  declaration: ColumnDeclaration;
}

/** What the planner knows of a relation: its columns, its privacy unit and the unit's contribution. */
export interface RelationSchema {
  datasets: DatasetDeclaration[];
  columns: Map<string, ColumnInfo>;
  /** The column naming the privacy unit (absent when one row is one unit). */
  unit?: ColumnInfo;
  contribution: Contribution;
  /** The declared contribution bounds that apply (the tightest of the datasets read). */
  defaults: DatasetDeclaration['contribution'];
}
