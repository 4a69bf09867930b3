import type { Cap } from '../dp/cost.js';
import { ErrorCode, MeshError } from '../errors.js';
import type { DomainDatabase } from '../storage/database.js';
import { chainEntry, entryColumns, lockHead, type Appended, type AuditRecord, type TxQuery } from './audit.js';
import { emptyRow, explicitCap, rowJson, rowOf, type BudgetRow, type ClosedEpoch } from './budget.js';

/**
 * Group commit of the release lifecycle's writes (charges, completions, failures), one committer
 * per domain database and process (issue 17). Concurrent requests queue here; each batch is
 *  1. ONE read: every row the batch needs (budgets of its principals and datasets, the policy rows
 *     of its callers' scopes, revocations, the releases of its plan keys and ids) and the audit
 *     chain's head, as one snapshot;
 *  2. evaluated in order, in memory, by the ledger's operations (./ledger.ts) with the accountant's
 *     TypeScript functions, each request seeing the writes of the ones before it;
 *  3. ONE statement, `cdm_commit_batch` (prisma/migrations/0004_*), that locks the audit head and
 *     applies every write of the batch only if the head is still the one the snapshot read.
 *
 * WHY THIS NEVER OVERSPENDS. Every write to the state a charge depends on (budget rows, policies,
 * revocations, releases) appends an audit entry in the same transaction, under the head's row lock
 * (./audit.ts): charges and completions through here, admin writes through ./service.ts. The chain
 * head therefore changes with every such write, and "head unchanged" means "every row this batch
 * read is still exactly as read". The commit compares the head under its lock and writes all or
 * nothing, so each committed batch was evaluated on the exact state it replaces (a serial
 * schedule, whatever the number of replicas), and each charge in it passed the caps on that state
 * plus the charges before it. A batch that lost the race (another process committed in between)
 * writes nothing and is re-read and re-evaluated. After OPTIMISTIC_ATTEMPTS lost races the batch is
 * evaluated inside a transaction that holds the head lock from the read to the write, which no
 * other writer can overtake: every batch commits in bounded attempts.
 */
export interface Needs {
  principals?: string[];
  datasets?: string[];
  scopes?: string[];
  planKeys?: string[];
  releaseIds?: string[];
}

/** One request of a batch: what it reads, and how it decides and writes on a snapshot. */
export interface Op<T> {
  needs: Needs;
  /**
   * The op decides nothing from the snapshot (a completion: its writes are conditional in SQL). A
   * batch of such ops is first tried on the head this committer last saw, without the read: the
   * compare-and-set still refuses it if anyone wrote since.
   */
  blind?: boolean;
  /** Decides on `s` (seeing earlier ops' writes) and records its writes in `w`; throws to refuse. */
  apply(s: Snapshot, w: BatchWriter): T;
}

export interface SnapshotRelease {
  id: string;
  planKey: string;
  status: 'pending' | 'done' | 'failed';
  result: unknown;
  epsilon: number;
  delta: number;
  /** Seconds since it was created (for the stale check). */
  age: number;
}

export interface Snapshot {
  head: Appended;
  principals: Map<string, { row: BudgetRow; revoked: boolean }>;
  /** Dataset budgets with the cap an admin set explicitly, if any. */
  globals: Map<string, { row: BudgetRow; cap: Cap | null }>;
  policies: { scope: string; totalEpsilon: number | null; totalDelta: number | null }[];
  releases: Map<string, SnapshotRelease>;
  releasesById: Map<string, SnapshotRelease>;
}

/** How many lost races before the batch holds the head lock from read to write. */
const OPTIMISTIC_ATTEMPTS = 3;
/** Largest batch (its writes travel as one jsonb parameter). */
const MAX_BATCH = 128;
/** The locking attempt waits for the head behind other writers rather than fail. */
const LOCKED_TX = { timeout: 30_000, maxWait: 30_000 };

type BudgetWrite = { key: string } & ReturnType<typeof rowJson>;

/** Accumulates a batch's writes (and keeps the snapshot current for the ops after it). */
export class BatchWriter {
  private readonly principals = new Map<string, { id: string; roles: string[] }>();
  private readonly principalBudgets = new Map<string, BudgetWrite>();
  private readonly globalBudgets = new Map<string, BudgetWrite>();
  private readonly finished: { id: string; status: string; result?: unknown; resultHash?: string }[] = [];
  private readonly dropped: string[] = [];
  private readonly releases: Record<string, unknown>[] = [];
  private readonly ledger: Record<string, unknown>[] = [];
  private readonly epochs: Record<string, unknown>[] = [];
  private readonly audit: ReturnType<typeof entryColumns>[] = [];
  private readonly from: Appended;

  constructor(private readonly s: Snapshot) {
    this.from = s.head;
  }

  get empty(): boolean {
    return this.audit.length === 0;
  }

  principal(id: string, roles: string[], row: BudgetRow): void {
    this.principals.set(id, { id, roles });
    this.principalBudgets.set(id, { key: id, ...rowJson(row) });
    this.s.principals.set(id, { row, revoked: this.s.principals.get(id)?.revoked ?? false });
  }

  dataset(dataset: string, row: BudgetRow): void {
    this.globalBudgets.set(dataset, { key: dataset, ...rowJson(row) });
    this.s.globals.set(dataset, { row, cap: this.s.globals.get(dataset)?.cap ?? null });
  }

  closedEpoch(budget: string, c: ClosedEpoch): void {
    this.epochs.push({ budget, ...c });
  }

  /** A pending release becomes done or failed (no-op for one that is not pending). */
  finish(id: string, status: 'done' | 'failed', result?: unknown, resultHash?: string): void {
    this.finished.push({ id, status, result: status === 'done' ? (result ?? null) : undefined, resultHash });
    const r = this.s.releasesById.get(id);
    if (r?.status === 'pending') Object.assign(r, { status, result: status === 'done' ? result : null });
  }

  /** Removes a failed or dead release, so its plan key can be charged afresh. */
  drop(release: SnapshotRelease): void {
    this.dropped.push(release.id);
    this.s.releases.delete(release.planKey);
    this.s.releasesById.delete(release.id);
  }

  release(r: { id: string; planKey: string; dataset: string; aggregate: string; principalId: string; epsilon: number; delta: number }): void {
    this.releases.push(r);
    const stored: SnapshotRelease = { id: r.id, planKey: r.planKey, status: 'pending', result: null, epsilon: r.epsilon, delta: r.delta, age: 0 };
    this.s.releases.set(r.planKey, stored);
    this.s.releasesById.set(r.id, stored);
  }

  ledgerEntry(e: Record<string, unknown>): void {
    this.ledger.push(e);
  }

  /** Chains the entry after the batch's current head (hashed here, chain v2, ./audit.ts). */
  entry(r: Omit<AuditRecord, 'at' | 'version' | 'seq'>): void {
    const e = chainEntry(this.s.head, r);
    this.audit.push(entryColumns(e));
    this.s.head = { seq: e.seq, hash: e.hash };
  }

  /** The batch as `cdm_commit_batch` takes it. */
  json(): string {
    return JSON.stringify({
      from: this.from,
      to: this.s.head,
      principals: [...this.principals.values()],
      principalBudgets: [...this.principalBudgets.values()],
      globalBudgets: [...this.globalBudgets.values()],
      finished: this.finished,
      dropped: this.dropped,
      releases: this.releases,
      ledger: this.ledger,
      epochs: this.epochs,
      audit: this.audit,
    });
  }
}

interface Queued {
  op: Op<unknown>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

export class Committer {
  private queue: Queued[] = [];
  private draining = false;
  /** The head after this committer's last read or commit (a guess: the commit checks it). */
  private lastHead?: Appended;
  /** Counters for tests and the benchmark: batches committed, requests, lost races, locked attempts. */
  readonly stats = { batches: 0, requests: 0, conflicts: 0, locked: 0, readMs: 0, evaluateMs: 0, writeMs: 0 };
  /** Test seam: runs between a batch's read and its write (to make another writer win the race). */
  beforeWrite?: (attempt: number) => Promise<void>;

  constructor(private readonly db: DomainDatabase) {}

  submit<T>(op: Op<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** One batch in flight per committer: requests arriving meanwhile form the next batch. */
  private async drain() {
    this.draining = true;
    // Requests submitted in the same tick as the first one join its batch.
    await null;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
        await this.commitOrSplit(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  /** A batch the database rejects (not a lost race) is retried request by request, so one bad request fails alone. */
  private async commitOrSplit(batch: Queued[]) {
    try {
      const settled = await this.commit(batch.map((b) => b.op));
      settled.forEach((s, i) => (s.ok ? batch[i]!.resolve(s.value) : batch[i]!.reject(s.error)));
    } catch (e) {
      if (batch.length === 1) return batch[0]!.reject(e);
      for (const one of batch) await this.commitOrSplit([one]);
    }
  }

  private async commit(ops: Op<unknown>[]): Promise<Settled[]> {
    for (let attempt = 0; ; attempt++) {
      const locked = attempt >= OPTIMISTIC_ATTEMPTS;
      if (locked) this.stats.locked++;
      const outcome = locked
        ? await this.db.prisma.$transaction(async (tx) => {
            const q: TxQuery = (sql, ...params) => tx.$queryRawUnsafe(sql, ...params) as never;
            await lockHead(q, this.db.schema);
            return this.attempt(q, ops, attempt);
          }, LOCKED_TX)
        : await this.attempt((sql, ...params) => this.db.query(sql, params), ops, attempt);
      if (outcome) {
        this.stats.batches++;
        this.stats.requests += ops.length;
        return outcome;
      }
      this.stats.conflicts++;
      // Unreachable while every writer of the head takes its lock (./audit.ts): a locked attempt cannot lose.
      if (locked) throw new MeshError(ErrorCode.INTERNAL_SERVER_ERROR, 'Could not record the release; retry.');
    }
  }

  /** Read, evaluate, write; undefined when another writer moved the head in between. */
  private async attempt(q: TxQuery, ops: Op<unknown>[], attempt: number): Promise<Settled[] | undefined> {
    const t0 = performance.now();
    const blind = attempt === 0 && this.lastHead && ops.every((o) => o.blind);
    const snapshot = blind ? emptySnapshot(this.lastHead!) : await readSnapshot(q, this.db.schema, ops.map((o) => o.needs));
    this.lastHead = snapshot.head;
    const t1 = performance.now();
    const w = new BatchWriter(snapshot);
    const settled = ops.map((op): Settled => {
      try {
        return { ok: true, value: op.apply(snapshot, w) };
      } catch (error) {
        return { ok: false, error };
      }
    });
    // Nothing to write (memo hits, pending releases, refusals): decided on a consistent snapshot.
    const batch = w.empty ? undefined : w.json();
    const t2 = performance.now();
    this.stats.readMs += t1 - t0;
    this.stats.evaluateMs += t2 - t1;
    if (!batch) return settled;
    await this.beforeWrite?.(attempt);
    const [r] = await q<{ ok: boolean }>(`SELECT "${this.db.schema}"."cdm_commit_batch"($1::jsonb) AS ok`, batch);
    this.stats.writeMs += performance.now() - t2;
    if (r?.ok) this.lastHead = snapshot.head;
    return r?.ok ? settled : undefined;
  }
}

const committers = new WeakMap<DomainDatabase, Committer>();

/** This process's committer for `db` (replicas each have their own; the head arbitrates). */
export function committerFor(db: DomainDatabase): Committer {
  let c = committers.get(db);
  if (!c) committers.set(db, (c = new Committer(db)));
  return c;
}

const uniq = (xs: (string[] | undefined)[]) => [...new Set(xs.flatMap((x) => x ?? []))];

async function readSnapshot(q: TxQuery, schema: string, needs: Needs[]): Promise<Snapshot> {
  const t = (name: string) => `"${schema}"."${name}"`;
  const budget = (a: string) =>
    `json_build_object('spent', ${a}.spent, 'epoch', ${a}.epoch, 'epoch_epsilon', ${a}.epoch_epsilon, 'epoch_delta', ${a}.epoch_delta, 'prior_epsilon', ${a}.prior_epsilon, 'prior_delta', ${a}.prior_delta)`;
  // One statement, one snapshot. Floats travel as JSON numbers in their shortest exact form.
  const [row] = await q<{ snapshot: string }>(
    `SELECT json_build_object(
       'head', (SELECT json_build_object('seq', seq::text, 'hash', hash) FROM ${t('audit_head')} WHERE id),
       'principals', (SELECT COALESCE(json_agg(json_build_object('id', p.id, 'revoked', p.revoked, 'budget', CASE WHEN b.principal_id IS NULL THEN NULL ELSE ${budget('b')} END)), '[]')
                        FROM ${t('principal')} p LEFT JOIN ${t('principal_budget')} b ON b.principal_id = p.id WHERE p.id = ANY($1::text[])),
       'globals', (SELECT COALESCE(json_agg(json_build_object('dataset', g.dataset, 'epsilon', g.epsilon, 'delta', g.delta, 'budget', ${budget('g')})), '[]')
                     FROM ${t('global_budget')} g WHERE g.dataset = ANY($2::text[])),
       'policies', (SELECT COALESCE(json_agg(json_build_object('scope', scope, 'totalEpsilon', total_epsilon, 'totalDelta', total_delta)), '[]')
                      FROM ${t('policy')} WHERE scope = ANY($3::text[])),
       'releases', (SELECT COALESCE(json_agg(json_build_object('id', id, 'planKey', plan_key, 'status', status, 'result', result, 'epsilon', epsilon, 'delta', delta,
                                                               'age', extract(epoch FROM localtimestamp - created_at)::float8)), '[]')
                      FROM ${t('release')} WHERE plan_key = ANY($4::text[]) OR id = ANY($5::text[]))
     )::text AS snapshot`,
    uniq(needs.map((n) => n.principals)),
    uniq(needs.map((n) => n.datasets)),
    uniq(needs.map((n) => n.scopes)),
    uniq(needs.map((n) => n.planKeys)),
    uniq(needs.map((n) => n.releaseIds)),
  );
  type Columns = Parameters<typeof rowOf>[0];
  const s = JSON.parse(row!.snapshot) as {
    head: Appended | null;
    principals: { id: string; revoked: boolean; budget: Columns | null }[];
    globals: { dataset: string; epsilon: number | null; delta: number | null; budget: Columns }[];
    policies: Snapshot['policies'];
    releases: SnapshotRelease[];
  };
  if (!s.head) throw new Error(`the audit head of ${schema} is missing (run the migrations)`);
  const releases = s.releases.map((r) => ({ ...r, age: Number(r.age) }));
  return {
    head: s.head,
    principals: new Map(s.principals.filter((p) => p.budget || p.revoked).map((p) => [p.id, { row: p.budget ? rowOf(p.budget) : emptyRow(), revoked: p.revoked }])),
    globals: new Map(s.globals.map((g) => [g.dataset, { row: rowOf(g.budget), cap: explicitCap(g) }])),
    policies: s.policies,
    releases: new Map(releases.map((r) => [r.planKey, r])),
    releasesById: new Map(releases.map((r) => [r.id, r])),
  };
}

const emptySnapshot = (head: Appended): Snapshot => ({ head, principals: new Map(), globals: new Map(), policies: [], releases: new Map(), releasesById: new Map() });
