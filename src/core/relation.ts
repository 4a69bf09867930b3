import type { DatasetDeclaration } from '../domain/declaration.js';
import type { Predicate } from './predicate.js';

/**
 * The relational half of the plan IR: a tree of transformations from a dataset's rows to the
 * rows a measurement aggregates. Each node has a stability map (src/core/stability.ts) saying how
 * many rows, and in how many groups, one privacy unit can contribute to its output; the planner
 * chains them, so sensitivity is computed, never written per aggregate (OpenDP's model:
 * Transformation = function + stability map, Measurement = function + privacy map).
 */
export type Relation =
  /** All rows of a dataset. A unit contributes as many rows as it has (row-level: 1). */
  | { op: 'source'; dataset: DatasetDeclaration }
  /** Rows satisfying a predicate: stable with constant 1 (a unit never gains rows). */
  | { op: 'filter'; input: Relation; predicate: Predicate }
  /**
   * Inner join with a PUBLIC table on a public key: a unit's row meets at most `multiplicity` rows
   * of the public side, so its rows multiply by at most that (stability constant = multiplicity).
   * The public table's columns appear as `<dataset>.<column>`.
   */
  | { op: 'joinPublic'; input: Relation; table: DatasetDeclaration; leftKey: string; rightKey: string; multiplicity: number }
  /**
   * Inner join of two sensitive relations on their privacy unit: a unit with a rows on the left
   * and b on the right has a*b joined rows and no other unit's rows change, so the result is
   * bounded when both sides are (a*b), and a BoundContributions after it bounds it in any case.
   * The right side's columns appear as `<dataset>.<column>`.
   */
  | { op: 'joinOnUnit'; left: Relation; right: Relation }
  /**
   * A row-wise computed numeric column (SQL's CASE inside an aggregate): the first arm whose
   * predicate holds gives the value, a constant or a declared numeric column, else `otherwise`
   * (null: SQL NULL). One row in, one row out, decided on that row alone: stable with constant 1.
   * Its public bounds are the hull of the arms' bounds, so aggregates of it stay bounded.
   */
  | { op: 'derive'; input: Relation; column: string; cases: { when: Predicate; then: DerivedValue }[]; otherwise: DerivedValue }
  /**
   * Contribution bounding: keep at most `maxRows` rows of each unit; with `by`, keep each unit in
   * at most `maxGroups` groups (of the `by` columns) with at most `perGroup` rows in each. The
   * choice depends only on the unit's own rows (and fresh randomness), so other units are untouched.
   */
  | { op: 'bound'; input: Relation; maxRows: number; by?: string[]; maxGroups?: number; perGroup?: number };

/** An arm of a derived column: a constant, a declared numeric column, or NULL. */
export type DerivedValue = { value: number } | { column: string } | null;

/** Fluent construction, so a plan reads like the question (in the spirit of Tumult's QueryBuilder). */
export class RelationBuilder {
  constructor(readonly relation: Relation) {}
  static from(dataset: DatasetDeclaration): RelationBuilder {
    return new RelationBuilder({ op: 'source', dataset });
  }
  filter(predicate: Predicate): RelationBuilder {
    return new RelationBuilder({ op: 'filter', input: this.relation, predicate });
  }
  joinPublic(table: DatasetDeclaration, leftKey: string, rightKey: string, multiplicity: number): RelationBuilder {
    return new RelationBuilder({ op: 'joinPublic', input: this.relation, table, leftKey, rightKey, multiplicity });
  }
  joinOnUnit(right: RelationBuilder): RelationBuilder {
    return new RelationBuilder({ op: 'joinOnUnit', left: this.relation, right: right.relation });
  }
  derive(column: string, cases: { when: Predicate; then: DerivedValue }[], otherwise: DerivedValue): RelationBuilder {
    return new RelationBuilder({ op: 'derive', input: this.relation, column, cases, otherwise });
  }
  bound(maxRows: number, groups?: { by: string[]; maxGroups: number; perGroup: number }): RelationBuilder {
    return new RelationBuilder({ op: 'bound', input: this.relation, maxRows, ...(groups ?? {}) });
  }
}

/** Every dataset a relation reads (for routing and for the memo's data versions). */
export function datasetsOf(r: Relation): DatasetDeclaration[] {
  switch (r.op) {
    case 'source':
      return [r.dataset];
    case 'filter':
    case 'bound':
    case 'derive':
      return datasetsOf(r.input);
    case 'joinPublic':
      return [...datasetsOf(r.input), r.table];
    case 'joinOnUnit':
      return [...datasetsOf(r.left), ...datasetsOf(r.right)];
  }
}
