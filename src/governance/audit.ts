import { createHash } from 'node:crypto';
import { qualified, type DomainDatabase } from '../storage/database.js';

/**
 * The audit log: append-only and hash-chained. Each entry's hash covers its content and the hash of
 * the entry before it, so editing or deleting an entry breaks every later link (`cdm audit verify`).
 * From version 2 the hash also covers the entry's sequence number (assigned under the chain's lock,
 * so a v2 chain has no gap) and `state`, the post-change state of every budget the entry touched
 * (SPEC section 4, "Audit"): resetting a budget row, or cutting the tail of the log, leaves a row
 * that no longer matches the last state the chain vouches for. Cutting the tail of a log whose last
 * entries touched no budget is caught by anchoring the head outside the database (./head.ts).
 * The chain's head (last seq and hash) is one row, `audit_head`: every appender locks it FOR UPDATE
 * (interactive writers first thing in their transaction, so locks are always taken head first and
 * never deadlock), so concurrent writers, even across replicas, extend one chain instead of forking
 * it. The group commit of charges and completions (./committer.ts) hashes its entries here too and
 * compares-and-sets the head in one statement.
 */
export const GENESIS = '0'.repeat(64);
export const AUDIT_VERSION = 2;

export interface AuditRecord {
  at: Date;
  actor: string;
  action: string;
  detail: unknown;
  /** Version 2 and later: the sequence number and the post-change budget state are hashed. */
  version?: number;
  seq?: string;
  state?: unknown;
}

/** Runs inside the caller's transaction (`q` is the transaction's raw query function). */
export type TxQuery = <T = Record<string, unknown>>(sql: string, ...params: unknown[]) => Promise<T[]>;

export function entryHash(prevHash: string, r: AuditRecord): string {
  const common = { at: r.at.toISOString(), actor: r.actor, action: r.action, detail: r.detail };
  const body = (r.version ?? 1) >= 2 ? { ...common, v: r.version, seq: r.seq, state: r.state ?? null } : common;
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson(body)).digest('hex');
}

export interface Appended {
  seq: string;
  hash: string;
}

export async function appendAudit(q: TxQuery, schema: string, r: Omit<AuditRecord, 'at' | 'version' | 'seq'>): Promise<string> {
  return (await appendAuditEntry(q, schema, r)).hash;
}

/**
 * Locks the chain's head for the rest of the transaction and returns it. Interactive writers call
 * it before anything else, so every writer takes the head lock first (no deadlock with the group
 * commit, which also locks the head before any row).
 */
export async function lockHead(q: TxQuery, schema: string): Promise<Appended> {
  const [head] = await q<Appended>(`SELECT seq::text AS seq, hash FROM "${schema}"."audit_head" WHERE id FOR UPDATE`);
  if (!head) throw new Error(`the audit head of ${schema} is missing (run the migrations)`);
  return head;
}

/** An entry as stored: its record chained after `head` (pure; the committer chains batches with it). */
export interface ChainedEntry extends AuditRecord {
  seq: string;
  hash: string;
  prevHash: string;
}
export function chainEntry(head: Appended, r: Omit<AuditRecord, 'at' | 'version' | 'seq'>, now = Date.now()): ChainedEntry {
  const seq = (BigInt(head.seq) + 1n).toString();
  // Millisecond precision: what TIMESTAMP(3) stores is exactly what was hashed.
  const record: AuditRecord = { ...r, at: new Date(Math.floor(now)), version: AUDIT_VERSION, seq, state: r.state ?? null, detail: r.detail ?? null };
  return { ...record, seq, prevHash: head.hash, hash: entryHash(head.hash, record) };
}

/** The entry's columns as the insert (or the committer's jsonb batch) takes them. */
export const entryColumns = (e: ChainedEntry) => ({
  seq: e.seq,
  at: e.at.toISOString().slice(0, -1), // UTC wall time: the column is TIMESTAMP(3) without zone
  actor: e.actor,
  action: e.action,
  detail: e.detail,
  state: e.state,
  version: e.version,
  prevHash: e.prevHash,
  hash: e.hash,
});

export async function appendAuditEntry(q: TxQuery, schema: string, r: Omit<AuditRecord, 'at' | 'version' | 'seq'>): Promise<Appended> {
  const entry = chainEntry(await lockHead(q, schema), r);
  const c = entryColumns(entry);
  await q(
    `INSERT INTO "${schema}"."audit_entry" (seq, at, actor, action, detail, state, version, prev_hash, hash)
     VALUES ($1::bigint, $2::timestamp, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9)`,
    c.seq, c.at, c.actor, c.action, JSON.stringify(c.detail), JSON.stringify(c.state), c.version, c.prevHash, c.hash,
  );
  await q(`UPDATE "${schema}"."audit_head" SET seq = $1::bigint, hash = $2 WHERE id`, entry.seq, entry.hash);
  return { seq: entry.seq, hash: entry.hash };
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  /** First entry (seq) whose hash or link does not hold. */
  brokenAt?: string;
  reason?: string;
  /** The last entry of an intact chain. */
  head?: Appended;
}

export interface StoredEntry {
  seq: string;
  at: string;
  actor: string;
  action: string;
  detail: unknown;
  state: unknown;
  version: number;
  prev_hash: string;
  hash: string;
}

/**
 * Recomputes the whole chain, streaming in pages so a long log does not sit in memory; `visit`
 * sees every entry whose link and hash hold (for the budget checks of ./verify.ts).
 */
export async function verifyAudit(db: DomainDatabase, pageSize = 5000, visit?: (e: StoredEntry) => void): Promise<VerifyResult> {
  let prev = GENESIS;
  let prevSeq = '0';
  let after = '0';
  let entries = 0;
  let v2 = false;
  for (;;) {
    const rows = await db.query<StoredEntry>(
      `SELECT seq::text AS seq, to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor, action, detail, state, version, prev_hash, hash FROM ${qualified(db, 'audit_entry')}
       WHERE audit_entry.seq > $1::bigint ORDER BY audit_entry.seq LIMIT $2`,
      [after, pageSize],
    );
    for (const row of rows) {
      entries++;
      const broken = (reason: string): VerifyResult => ({ ok: false, entries, brokenAt: row.seq, reason });
      if (row.prev_hash !== prev) return broken('link to the previous entry is broken (an entry was deleted or edited)');
      const version = Number(row.version);
      if (v2 && version < AUDIT_VERSION) return broken(`a version ${version} entry follows version ${AUDIT_VERSION} entries (the entry was edited)`);
      v2 ||= version >= AUDIT_VERSION;
      if (version >= AUDIT_VERSION && BigInt(row.seq) !== BigInt(prevSeq) + 1n)
        return broken(`sequence number ${row.seq} does not follow ${prevSeq} (an entry was deleted or renumbered)`);
      const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
      const record: AuditRecord = { at: new Date(row.at), actor: row.actor, action: row.action, detail: json(row.detail), version, seq: row.seq, state: json(row.state) };
      if (entryHash(prev, record) !== row.hash) return broken('content does not match its hash (the entry was edited)');
      visit?.({ ...row, detail: record.detail, state: record.state, version });
      prev = row.hash;
      prevSeq = row.seq;
      after = row.seq;
    }
    if (rows.length < pageSize) return { ok: true, entries, head: entries ? { seq: prevSeq, hash: prev } : undefined };
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
