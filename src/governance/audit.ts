import { createHash } from 'node:crypto';
import { qualified, type DomainDatabase } from '../storage/database.js';

/**
 * The audit log: append-only and hash-chained. Each entry's hash covers its content and the hash of
 * the entry before it, so editing or deleting an entry breaks every later link (`cdm audit verify`).
 * Appends take a transaction-scoped advisory lock so concurrent writers (even across replicas)
 * extend one chain instead of forking it.
 */
export const GENESIS = '0'.repeat(64);

export interface AuditRecord {
  at: Date;
  actor: string;
  action: string;
  detail: unknown;
}

/** Runs inside the caller's transaction (`q` is the transaction's raw query function). */
export type TxQuery = <T = Record<string, unknown>>(sql: string, ...params: unknown[]) => Promise<T[]>;

export function entryHash(prevHash: string, r: AuditRecord): string {
  return createHash('sha256')
    .update(prevHash)
    .update('\n')
    .update(canonicalJson({ at: r.at.toISOString(), actor: r.actor, action: r.action, detail: r.detail }))
    .digest('hex');
}

export async function appendAudit(q: TxQuery, schema: string, r: Omit<AuditRecord, 'at'>): Promise<string> {
  await q(`SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtext($1))`, `cdm-audit:${schema}`);
  const [last] = await q<{ hash: string }>(`SELECT hash FROM "${schema}"."audit_entry" ORDER BY seq DESC LIMIT 1`);
  const prev = last?.hash ?? GENESIS;
  // Millisecond precision: what TIMESTAMP(3) stores is exactly what was hashed.
  const at = new Date(Math.floor(Date.now()));
  const hash = entryHash(prev, { ...r, at });
  await q(
    `INSERT INTO "${schema}"."audit_entry" (at, actor, action, detail, prev_hash, hash) VALUES ($1::timestamp, $2, $3, $4::jsonb, $5, $6)`,
    at.toISOString().slice(0, -1), // UTC wall time: the column is TIMESTAMP(3) without zone
    r.actor,
    r.action,
    JSON.stringify(r.detail ?? null),
    prev,
    hash,
  );
  return hash;
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  /** First entry (seq) whose hash or link does not hold. */
  brokenAt?: string;
  reason?: string;
}

/** Recomputes the whole chain, streaming in pages so a long log does not sit in memory. */
export async function verifyAudit(db: DomainDatabase, pageSize = 5000): Promise<VerifyResult> {
  let prev = GENESIS;
  let after = '0';
  let entries = 0;
  for (;;) {
    const rows = await db.query<{ seq: string; at: string; actor: string; action: string; detail: unknown; prev_hash: string; hash: string }>(
      `SELECT seq::text AS seq, to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor, action, detail, prev_hash, hash FROM ${qualified(db, 'audit_entry')}
       WHERE audit_entry.seq > $1::bigint ORDER BY audit_entry.seq LIMIT $2`,
      [after, pageSize],
    );
    for (const row of rows) {
      entries++;
      if (row.prev_hash !== prev) return { ok: false, entries, brokenAt: row.seq, reason: 'link to the previous entry is broken (an entry was deleted or edited)' };
      const at = new Date(row.at);
      const detail = typeof row.detail === 'string' ? JSON.parse(row.detail) : row.detail;
      if (entryHash(prev, { at, actor: row.actor, action: row.action, detail }) !== row.hash)
        return { ok: false, entries, brokenAt: row.seq, reason: 'content does not match its hash (the entry was edited)' };
      prev = row.hash;
      after = row.seq;
    }
    if (rows.length < pageSize) return { ok: true, entries };
  }
}

/** JSON with sorted keys, so the hash does not depend on key order after a JSONB round trip. */
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
