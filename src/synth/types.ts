/**
 * Shared types of the DP synthetic-data generator. The core never sees rows: it sees a public
 * domain and an oracle of exact contingency tables, so the same code runs over SQL (the product)
 * and over in-memory rows (tests, benchmark).
 */

/** One discrete column of the public domain; codes are 0..size-1. */
export interface Column {
  name: string;
  size: number;
}

export type Domain = readonly Column[];

/**
 * Exact counts of the contingency table over `columns`, row-major in the order given (the last
 * column varies fastest), each column's codes 0..size-1. In the product this is a GROUP BY with
 * per-person contribution bounding; its sensitivity is declared via `contributionBound`.
 */
export type MarginalOracle = (columns: string[]) => Promise<Float64Array | number[]>;

/** A clique of attributes, as sorted indices into the domain. */
export type Clique = readonly number[];
