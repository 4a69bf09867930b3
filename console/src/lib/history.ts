/**
 * Releases made from this browser, per principal, with the spent budget the accountant reported
 * right after each one. Analysts have no API listing their own releases yet, so the budget chart is
 * drawn from these snapshots (domain admins also see the server's ledger).
 */
export interface HistoryEntry {
  at: string;
  domain: string;
  dataset: string;
  aggregate: string;
  summary: string;
  epsilon: number;
  cached: boolean;
  releaseId: string;
  spentAfter: number;
  remainingAfter: number;
}
const key = (principal: string) => `cdm.console.history.${principal}`;

export function readHistory(principal: string): HistoryEntry[] {
  try {
    return JSON.parse(localStorage.getItem(key(principal)) ?? '[]') as HistoryEntry[];
  } catch {
    return [];
  }
}
export function appendHistory(principal: string, e: HistoryEntry) {
  const all = [...readHistory(principal), e].slice(-500);
  localStorage.setItem(key(principal), JSON.stringify(all));
}
