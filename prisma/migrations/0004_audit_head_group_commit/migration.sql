-- CreateTable
CREATE TABLE "audit_head" (
    "id" BOOLEAN NOT NULL DEFAULT true,
    "seq" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_head_pkey" PRIMARY KEY ("id")
);


-- Data (hand-written): the head starts at the last entry of the existing chain (or the genesis).
INSERT INTO "audit_head" ("id", "seq", "hash")
  SELECT true, COALESCE(MAX("seq"), 0), COALESCE((SELECT "hash" FROM "audit_entry" ORDER BY "seq" DESC LIMIT 1), repeat('0', 64)) FROM "audit_entry";

-- Function (hand-written): the one write of a group commit (src/governance/committer.ts). The batch
-- was evaluated in TypeScript (the accountant's math stays there) from a snapshot whose audit head
-- was `from`; every governance write appends to the audit chain under the head's row lock, so an
-- unchanged head means nothing the batch read has changed. Under that lock the function checks the
-- head (compare-and-set) and either applies every write of the batch, or none and returns false
-- (the committer re-reads and re-evaluates). `search_path` is fixed to the domain's schema here.
CREATE FUNCTION "cdm_commit_batch"("batch" JSONB) RETURNS BOOLEAN LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
  head_seq BIGINT;
  head_hash TEXT;
  budget_table TEXT;
  key_column TEXT;
  field TEXT;
BEGIN
  SELECT "seq", "hash" INTO head_seq, head_hash FROM "audit_head" WHERE "id" FOR UPDATE;
  IF head_seq IS DISTINCT FROM ("batch"->'from'->>'seq')::BIGINT OR head_hash IS DISTINCT FROM "batch"->'from'->>'hash' THEN
    RETURN FALSE;
  END IF;
  INSERT INTO "principal" ("id", "roles")
    SELECT x."id", x."roles" FROM jsonb_to_recordset("batch"->'principals') AS x("id" TEXT, "roles" TEXT[])
    ON CONFLICT ("id") DO UPDATE SET "roles" = excluded."roles";
  -- Both kinds of budget rows take the same columns: upsert each with the state the batch computed.
  FOR budget_table, key_column, field IN VALUES ('principal_budget', 'principal_id', 'principalBudgets'), ('global_budget', 'dataset', 'globalBudgets') LOOP
    EXECUTE format(
      'INSERT INTO %1$I (%2$I, "spent", "epoch", "epoch_epsilon", "epoch_delta", "prior_epsilon", "prior_delta", "updated_at")
         SELECT x."key", x."spent", x."epoch", x."epochEpsilon", x."epochDelta", x."priorEpsilon", x."priorDelta", now()
         FROM jsonb_to_recordset($1) AS x("key" TEXT, "spent" JSONB, "epoch" INTEGER, "epochEpsilon" DOUBLE PRECISION,
           "epochDelta" DOUBLE PRECISION, "priorEpsilon" DOUBLE PRECISION, "priorDelta" DOUBLE PRECISION)
       ON CONFLICT (%2$I) DO UPDATE SET "spent" = excluded."spent", "epoch" = excluded."epoch", "epoch_epsilon" = excluded."epoch_epsilon",
         "epoch_delta" = excluded."epoch_delta", "prior_epsilon" = excluded."prior_epsilon", "prior_delta" = excluded."prior_delta",
         "updated_at" = excluded."updated_at"', budget_table, key_column) USING "batch"->field;
  END LOOP;
  UPDATE "release" r SET "status" = x."status", "result" = x."result", "result_hash" = x."resultHash", "completed_at" = now()
    FROM jsonb_to_recordset("batch"->'finished') AS x("id" TEXT, "status" TEXT, "result" JSONB, "resultHash" TEXT)
    WHERE r."id" = x."id" AND r."status" = 'pending';
  DELETE FROM "release" WHERE "id" IN (SELECT jsonb_array_elements_text("batch"->'dropped'));
  INSERT INTO "release" ("id", "plan_key", "dataset", "aggregate", "principal_id", "status", "epsilon", "delta")
    SELECT x."id", x."planKey", x."dataset", x."aggregate", x."principalId", 'pending', x."epsilon", x."delta"
    FROM jsonb_to_recordset("batch"->'releases') AS x("id" TEXT, "planKey" TEXT, "dataset" TEXT, "aggregate" TEXT, "principalId" TEXT,
      "epsilon" DOUBLE PRECISION, "delta" DOUBLE PRECISION);
  INSERT INTO "ledger_entry" ("id", "principal_id", "dataset", "release_id", "aggregate", "mechanism", "epsilon", "delta", "cost", "principal_epoch", "global_epoch")
    SELECT x."id", x."principalId", x."dataset", x."releaseId", x."aggregate", x."mechanism", x."epsilon", x."delta", x."cost", x."principalEpoch", x."globalEpoch"
    FROM jsonb_to_recordset("batch"->'ledger') AS x("id" TEXT, "principalId" TEXT, "dataset" TEXT, "releaseId" TEXT, "aggregate" TEXT, "mechanism" TEXT,
      "epsilon" DOUBLE PRECISION, "delta" DOUBLE PRECISION, "cost" JSONB, "principalEpoch" INTEGER, "globalEpoch" INTEGER);
  INSERT INTO "budget_epoch" ("budget", "epoch", "epsilon", "delta", "spent_epsilon", "spent_delta", "releases")
    SELECT x."budget", x."epoch", x."epsilon", x."delta", x."spentEpsilon", x."spentDelta", x."releases"
    FROM jsonb_to_recordset("batch"->'epochs') AS x("budget" TEXT, "epoch" INTEGER, "epsilon" DOUBLE PRECISION, "delta" DOUBLE PRECISION,
      "spentEpsilon" DOUBLE PRECISION, "spentDelta" DOUBLE PRECISION, "releases" INTEGER);
  INSERT INTO "audit_entry" ("seq", "at", "actor", "action", "detail", "state", "version", "prev_hash", "hash")
    SELECT x."seq", x."at", x."actor", x."action", COALESCE(x."detail", 'null'::jsonb), COALESCE(x."state", 'null'::jsonb), x."version", x."prevHash", x."hash"
    FROM jsonb_to_recordset("batch"->'audit') AS x("seq" BIGINT, "at" TIMESTAMP(3), "actor" TEXT, "action" TEXT, "detail" JSONB, "state" JSONB,
      "version" INTEGER, "prevHash" TEXT, "hash" TEXT);
  UPDATE "audit_head" SET "seq" = ("batch"->'to'->>'seq')::BIGINT, "hash" = "batch"->'to'->>'hash' WHERE "id";
  RETURN TRUE;
END
$fn$;
