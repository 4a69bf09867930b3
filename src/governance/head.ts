import { createHmac } from 'node:crypto';
import { CompactSign, compactVerify } from 'jose';

/**
 * A signed audit head, to keep outside the database (a ticket, a log shipper, another team's
 * storage): whoever can rewrite the database can recompute a whole hash chain, or cut its tail, but
 * cannot forge the signature of a head printed earlier. `cdm audit verify --head` checks that the
 * chain still contains that entry with that hash, so a later truncation or rewrite shows.
 *
 * Signed as a compact JWS (HS256) with a key derived from the node's secret (CDM_AUDIT_KEY, else
 * the development JWT secret) under its own label, so a head is never a valid access token and a
 * token never a valid head.
 */
export interface AuditHead {
  domain: string;
  seq: string;
  hash: string;
  /** When the head was signed (ISO 8601). */
  at: string;
}

const TYPE = 'cdm-audit-head+jws';

export function headKey(secret: Uint8Array): Uint8Array {
  return createHmac('sha256', secret).update('cdm-audit-head-v1').digest();
}

export async function signHead(head: AuditHead, key: Uint8Array): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(head))).setProtectedHeader({ alg: 'HS256', typ: TYPE }).sign(key);
}

export class HeadError extends Error {}

/** The head of `domain` among `text` (one signed head per line, or one alone); throws HeadError. */
export async function readHead(text: string, domain: string, key: Uint8Array): Promise<AuditHead> {
  const candidates = text.split(/\s+/).filter((t) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(t));
  if (candidates.length === 0) throw new HeadError('no signed head found (expected the output of `cdm audit head`)');
  let verified = 0;
  for (const jws of candidates) {
    let head: AuditHead;
    try {
      const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: ['HS256'] });
      if (protectedHeader.typ !== TYPE) continue;
      head = JSON.parse(new TextDecoder().decode(payload)) as AuditHead;
    } catch {
      continue;
    }
    verified++;
    if (head.domain === domain && /^\d+$/.test(head.seq) && /^[0-9a-f]{64}$/.test(head.hash)) return head;
  }
  throw new HeadError(verified === 0 ? 'the head\'s signature does not verify (another key, or the head was edited)' : `no head for domain ${domain} in the given heads`);
}
