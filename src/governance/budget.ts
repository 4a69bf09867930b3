import { compose, emptyState, epsilonSpent, parseState, type AccountantState } from '../dp/accountant.js';
import type { Cap, PrivacyCost } from '../dp/cost.js';

/**
 * A budget (a principal's, or a dataset's global one) as a sequence of privacy-filter EPOCHS.
 * Pure: no I/O; the ledger (src/governance/ledger.ts) applies it through the group commit
 * (./committer.ts), and `cdm audit verify` replays it from the ledger.
 *
 * WHY EPOCHS
 * The accountant (src/dp/accountant.ts) is a privacy FILTER: its stopping rule "run while
 * spent(state, D) <= E" is only proven for a cap (E, D) fixed before the interaction starts
 * (Rogers, Roth, Ullman & Vadhan 2016; Smith & Thakurta 2022 for the GDP sum; Feldman & Zrnic 2021
 * for the zCDP sum). An admin or a policy may change a principal's cap while they are mid-stream.
 * Re-reading the same running state under the new cap would be a filter whose bound moved after
 * the fact, and re-reading it at a LOWER delta can even make the spent epsilon infinite (the
 * approximate-DP share of delta or the Gaussian tail no longer fits). So any change of the cap
 * (epsilon or delta) that meets a non-empty state CLOSES the current filter and opens a new one:
 *
 *  - The closed epoch k ran under (E_k, D_k), fixed when it opened, and is charged what it proved:
 *    e_k = spent(state_k, D_k) at its own delta d_k = D_k (or d_k = 0 when its releases were all
 *    pure and spent(state_k, 0) = e_k: then it holds at delta 0). This is finite by construction:
 *    the filter never let state_k exceed its cap.
 *  - Epochs compose by BASIC composition: prior = (sum e_k, sum d_k). Basic composition is a valid
 *    filter for adaptively chosen (eps_i, delta_i) (Rogers et al. 2016, Thm 3.6; Whitehouse, Ramdas,
 *    Rogers & Wu 2023 for the fully adaptive case). The new epoch's filter is opened with the bound
 *    E - sum e_k at delta D, both fixed at opening, so it again is a filter with a cap fixed in
 *    advance; the whole interaction is (E, sum d_k + D)-DP (given the next point).
 *  - Charging a closed epoch its realised spend e_k (not its full cap) is the one step that needs
 *    an argument beyond a filter, since e_k is only known after the epoch ran:
 *      * an epoch of pure releases (d_k = 0): the privacy loss of its transcript is bounded
 *        pointwise by the sum of its epsilons, so e_k is a valid odometer (Rogers et al. 2016, sec. 5);
 *      * an epoch accounted in one currency (the GDP or zCDP running sum) at the delta of the next:
 *        spent(., D) is subadditive in the running sum (sqrt-shaped; Dong, Roth & Su 2022 Cor. 2.13,
 *        Bun & Steinke 2016 Prop. 1.3), so "e_1 + spent(s_2) <= E" implies s_1 + s_2 stays within
 *        the bound of the largest cap ever in force: the run is one filter with that bound, valid
 *        when the cap changes do not depend on the answers (admin and policy actions are public
 *        inputs here; only the analyst's choices are adaptive).
 *    Epochs accounted in different currencies or at different deltas are composed by the same
 *    rule without that single-filter argument. If that case matters, charge closed epochs their
 *    full cap instead (closed.spentEpsilon = epochEpsilon - priorEpsilon in syncEpoch): always a
 *    valid filter composition, at the price of losing the unspent part of every closed epoch.
 *  - An empty epoch is simply re-targeted: nothing ran under the old cap, so there is nothing to
 *    close. This keeps the usual "admin sets a budget, then the analyst queries" free of any cost.
 *
 * Lowering delta therefore never makes `spent` infinite: the closed epoch keeps the epsilon it
 * proved at its own delta, and the new epoch starts from an empty state.
 */
export interface BudgetRow {
  epoch: number;
  /** The cap the current epoch's filter was opened with; null before the first charge. */
  epochEpsilon: number | null;
  epochDelta: number | null;
  /** What closed epochs proved, composed by basic composition. */
  priorEpsilon: number;
  priorDelta: number;
  /** The current epoch's accountant state. */
  spent: AccountantState;
}

export interface ClosedEpoch {
  epoch: number;
  epsilon: number;
  delta: number;
  spentEpsilon: number;
  spentDelta: number;
  releases: number;
}

export const emptyRow = (): BudgetRow => ({ epoch: 1, epochEpsilon: null, epochDelta: null, priorEpsilon: 0, priorDelta: 0, spent: emptyState() });

export const stateOf = (json: unknown): AccountantState =>
  json && typeof json === 'object' && Object.keys(json).length > 0 ? parseState(json) : emptyState();
export const addCosts = (s: AccountantState, costs: readonly PrivacyCost[]) => costs.reduce(compose, s);

/** What one epoch proved: (epsilon at its delta, that delta), or (epsilon, 0) when it holds at 0. */
export function provenSpend(state: AccountantState, delta: number): { epsilon: number; delta: number } {
  const atDelta = epsilonSpent(state, delta);
  const atZero = epsilonSpent(state, 0);
  return atZero <= atDelta ? { epsilon: atZero, delta: 0 } : { epsilon: atDelta, delta };
}

const sameCap = (row: BudgetRow, cap: Cap) => row.epochEpsilon === cap.epsilon && row.epochDelta === cap.delta;

/** The row whose current epoch runs under `cap`: unchanged, re-targeted (empty) or a new epoch. */
export function syncEpoch(row: BudgetRow, cap: Cap): { row: BudgetRow; closed?: ClosedEpoch } {
  if (sameCap(row, cap)) return { row };
  if (row.spent.releases === 0 || row.epochEpsilon === null || row.epochDelta === null)
    return { row: { ...row, epochEpsilon: cap.epsilon, epochDelta: cap.delta } };
  const proven = provenSpend(row.spent, row.epochDelta);
  const closed: ClosedEpoch = {
    epoch: row.epoch,
    epsilon: row.epochEpsilon,
    delta: row.epochDelta,
    spentEpsilon: proven.epsilon,
    spentDelta: proven.delta,
    releases: row.spent.releases,
  };
  return {
    closed,
    row: {
      epoch: row.epoch + 1,
      epochEpsilon: cap.epsilon,
      epochDelta: cap.delta,
      priorEpsilon: row.priorEpsilon + proven.epsilon,
      priorDelta: row.priorDelta + proven.delta,
      spent: emptyState(),
    },
  };
}

/** Epsilon spent by the whole budget (closed epochs plus the current one, plus `extra` costs). */
export function spentEpsilon(row: BudgetRow, extra: readonly PrivacyCost[] = []): number {
  const state = extra.length ? addCosts(row.spent, extra) : row.spent;
  return row.priorEpsilon + epsilonSpent(state, row.epochDelta ?? 0);
}

/** The row as stored (JSON columns) and as audited (post-change state in each audit entry). */
export const rowJson = (row: BudgetRow) => ({
  epoch: row.epoch,
  epochEpsilon: row.epochEpsilon,
  epochDelta: row.epochDelta,
  priorEpsilon: row.priorEpsilon,
  priorDelta: row.priorDelta,
  spent: row.spent,
});

/** Database columns -> row. */
export function rowOf(r: { spent: unknown; epoch: number; epoch_epsilon: number | null; epoch_delta: number | null; prior_epsilon: number; prior_delta: number }): BudgetRow {
  return {
    epoch: Number(r.epoch),
    epochEpsilon: r.epoch_epsilon,
    epochDelta: r.epoch_delta,
    priorEpsilon: Number(r.prior_epsilon),
    priorDelta: Number(r.prior_delta),
    spent: stateOf(r.spent),
  };
}

/** The dataset's cap an admin set explicitly, if any. */
export const explicitCap = (r: { epsilon: number | null; delta: number | null }): Cap | null =>
  r.epsilon != null && r.delta != null ? { epsilon: r.epsilon, delta: r.delta } : null;

/** A global budget's audited state: its filter and its explicit cap. */
export const globalJson = (row: BudgetRow, cap: Cap | null) => ({ ...rowJson(row), cap });
