import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { qualified, quoteIdent, type DomainDatabase } from '../storage/database.js';
import { afterRankedLoad, RANK_COLUMN, unitColumn, verifiedRank } from './rank.js';

/**
 * `cdm domain prepare`: makes a domain's EXISTING tables (source kind "table") ready for fast
 * bounding, in place, without copying data: adds the per-unit random rank, its invariant
 * (src/seed/rank.ts), and a trigger that ranks new rows as they arrive.
 *
 * The trigger keeps each unit's ranks a uniformly random order of its rows by the "inside-out"
 * Fisher-Yates step (Durstenfeld 1964; Knuth TAOCP vol. 2, 3.4.2, Algorithm P run incrementally): a
 * new row takes the rank of a uniformly chosen row among the unit's n+1 rows (itself included),
 * and that row moves to a fresh rank above all others. A per-unit advisory lock serialises inserts
 * of one unit. Deleted rows leave gaps, which bounding does not mind (ranks stay distinct and >= 1).
 * A row's unit cannot be changed in place when the target unit already uses its rank (the unique
 * index refuses it: delete and re-insert the row, or run prepare with --refresh). Views cannot carry
 * a column: their queries use the per-query window, which needs no preparation.
 */
export interface PrepareResult {
  dataset: string;
  action: 'ranked' | 'already-ranked' | 'not-needed' | 'view';
  message: string;
}

export async function prepareDomain(db: DomainDatabase, domain: DomainDeclaration, opts: { refresh?: boolean } = {}): Promise<PrepareResult[]> {
  const out: PrepareResult[] = [];
  for (const ds of domain.datasets.filter((x) => x.source.kind === 'table')) out.push(await prepareDataset(db, ds, opts));
  return out;
}

export async function prepareDataset(db: DomainDatabase, ds: DatasetDeclaration, opts: { refresh?: boolean } = {}): Promise<PrepareResult> {
  const [rel] = await db.query<{ kind: string }>(
    `SELECT c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [db.schema, ds.table],
  );
  if (!rel) throw new Error(`dataset ${ds.name}: no table or view "${db.schema}.${ds.table}" in the domain's database`);
  await checkColumns(db, ds);
  const unit = unitColumn(ds);
  const r = (action: PrepareResult['action'], message: string) => ({ dataset: ds.name, action, message });
  if (!unit) return r('not-needed', 'one row per person: nothing to bound, no rank needed');
  if (rel.kind !== 'r' && rel.kind !== 'p') return r('view', 'a view cannot carry the rank: its queries bound contributions per query');
  if (!opts.refresh && (await verifiedRank(db, ds.table, unit.sql))) return r('already-ranked', 'rank and trigger already in place');
  await db.exec(rankScript(db, ds.table, unit.sql));
  await afterRankedLoad(db, ds, { loaded: false });
  return r('ranked', `ranked each ${ds.privacyUnit}'s rows in place; new rows are ranked by trigger ${triggerName(ds.table)}`);
}

/** Every declared column must exist in the table; a close name is suggested. */
async function checkColumns(db: DomainDatabase, ds: DatasetDeclaration) {
  const cols = (await db.query<{ name: string }>(`SELECT column_name AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, [db.schema, ds.table])).map((c) => c.name);
  const missing = ds.columns.filter((c) => !cols.includes(c.sql));
  if (missing.length === 0) return;
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  const lines = missing.map((c) => {
    const guess = cols.find((x) => norm(x) === norm(c.sql) || norm(x) === norm(c.name));
    return `column "${c.sql}" (of ${c.name}) is missing${guess ? ` (did you mean "${guess}"? set "sql": "${guess}" in the declaration)` : ''}`;
  });
  throw new Error(`dataset ${ds.name}: ${db.schema}.${ds.table}: ${lines.join('; ')}`);
}

const triggerName = (table: string) => `${table}_cdm_rank`.slice(0, 63);

function rankScript(db: DomainDatabase, table: string, unitSql: string): string {
  const t = qualified(db, table);
  const u = quoteIdent(unitSql);
  const fn = `${quoteIdent(db.schema)}.${quoteIdent(triggerName(table))}`;
  const index = quoteIdent(`${table}_cdm_rank_key`.slice(0, 63));
  const check = quoteIdent(`${table}_cdm_rank_positive`.slice(0, 63));
  const lockKey = `hashtext(${literal(`${db.schema}.${table}`)})`;
  // One multi-statement script runs as one implicit transaction: all of it, or none.
  return `DROP TRIGGER IF EXISTS ${quoteIdent(triggerName(table))} ON ${t};
    DROP INDEX IF EXISTS ${quoteIdent(db.schema)}.${index};
    ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${RANK_COLUMN} integer;
    ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${check};
    UPDATE ${t} SET ${RANK_COLUMN} = r.rank
      FROM (SELECT ctid AS id, row_number() OVER (PARTITION BY ${u} ORDER BY random())::int AS rank FROM ${t}) r
      WHERE ${t}.ctid = r.id;
    ALTER TABLE ${t} ALTER COLUMN ${RANK_COLUMN} SET NOT NULL;
    ALTER TABLE ${t} ADD CONSTRAINT ${check} CHECK (${RANK_COLUMN} >= 1);
    CREATE UNIQUE INDEX ${index} ON ${t} (${u}, ${RANK_COLUMN}) NULLS NOT DISTINCT;
    CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $cdm$
    DECLARE n bigint; top integer; victim tid; victim_rank integer;
    BEGIN
      PERFORM pg_advisory_xact_lock(${lockKey}, hashtext(coalesce(NEW.${u}::text, '')));
      SELECT count(*), coalesce(max(${RANK_COLUMN}), 0) + 1 INTO n, top FROM ${t} WHERE ${u} IS NOT DISTINCT FROM NEW.${u};
      NEW.${RANK_COLUMN} := top;
      IF n > 0 AND random() * (n + 1) < n THEN
        SELECT ctid, ${RANK_COLUMN} INTO victim, victim_rank FROM ${t} WHERE ${u} IS NOT DISTINCT FROM NEW.${u} ORDER BY random() LIMIT 1;
        UPDATE ${t} SET ${RANK_COLUMN} = top WHERE ctid = victim;
        NEW.${RANK_COLUMN} := victim_rank;
      END IF;
      RETURN NEW;
    END $cdm$;
    CREATE TRIGGER ${quoteIdent(triggerName(table))} BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${fn}();
    ANALYZE ${t}`;
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
