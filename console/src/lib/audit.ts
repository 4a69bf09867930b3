import type { AuditEntry } from '../api/fragments.js';

/**
 * Recomputes the audit log's hash chain in the browser, from the genesis hash: each entry's hash is
 * SHA-256(previous hash, "\n", canonical JSON of {at, actor, action, detail}, and from version 2 on
 * also {v, seq, state}) (src/governance/audit.ts, entryHash).
 * An edited entry fails its hash; a deleted one breaks the next link.
 */
export const GENESIS = '0'.repeat(64);

export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface ChainCheck {
  ok: boolean;
  entries: number;
  brokenAt?: string;
}
/** Entries oldest first, the whole log. */
export async function verifyChain(entries: AuditEntry[]): Promise<ChainCheck> {
  let prev = GENESIS;
  for (const e of entries) {
    const common = { at: new Date(e.at).toISOString(), actor: e.actor, action: e.action, detail: JSON.parse(e.detail) };
    const body = canonicalJson(e.version >= 2 ? { ...common, v: e.version, seq: e.seq, state: e.state == null ? null : JSON.parse(e.state) } : common);
    if ((await sha256(`${prev}\n${body}`)) !== e.hash) return { ok: false, entries: entries.length, brokenAt: e.seq };
    prev = e.hash;
  }
  return { ok: true, entries: entries.length };
}
