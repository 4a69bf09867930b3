-- AlterTable
ALTER TABLE "audit_entry" ADD COLUMN     "state" JSONB,
ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "global_budget" ADD COLUMN     "epoch" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "epoch_delta" DOUBLE PRECISION,
ADD COLUMN     "epoch_epsilon" DOUBLE PRECISION,
ADD COLUMN     "prior_delta" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "prior_epsilon" DOUBLE PRECISION NOT NULL DEFAULT 0,
ALTER COLUMN "epsilon" DROP NOT NULL,
ALTER COLUMN "delta" DROP NOT NULL;

-- Data (hand-written): global caps no admin set follow the declaration again.
UPDATE "global_budget" g SET "epoch_epsilon" = g."epsilon", "epoch_delta" = g."delta";
UPDATE "global_budget" g SET "epsilon" = NULL, "delta" = NULL
  WHERE NOT EXISTS (SELECT 1 FROM "audit_entry" a WHERE a."action" = 'admin.setGlobalCap' AND a."detail"->>'dataset' = g."dataset");

-- AlterTable
ALTER TABLE "ledger_entry" ADD COLUMN     "global_epoch" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "principal_epoch" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "principal_budget" ADD COLUMN     "epoch" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "epoch_delta" DOUBLE PRECISION,
ADD COLUMN     "epoch_epsilon" DOUBLE PRECISION,
ADD COLUMN     "prior_delta" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "prior_epsilon" DOUBLE PRECISION NOT NULL DEFAULT 0;

-- Data (hand-written): the running filter keeps the cap it was opened with; caps an admin set
-- (an audited admin.setBudget or admin.grantBudget) become the principal's policy; copied defaults
-- are dropped, so the principal now follows the domain's and roles' policies.
UPDATE "principal_budget" SET "epoch_epsilon" = "epsilon", "epoch_delta" = "delta";
INSERT INTO "policy" ("scope", "total_epsilon", "total_delta", "allowed_aggregates", "updated_at")
  SELECT 'principal:' || b."principal_id", b."epsilon", b."delta", '{}', CURRENT_TIMESTAMP FROM "principal_budget" b
  WHERE EXISTS (SELECT 1 FROM "audit_entry" a WHERE a."action" IN ('admin.setBudget', 'admin.grantBudget') AND a."detail"->>'principal' = b."principal_id")
  ON CONFLICT ("scope") DO UPDATE SET "total_epsilon" = excluded."total_epsilon", "total_delta" = excluded."total_delta";
ALTER TABLE "principal_budget" DROP COLUMN "delta",
DROP COLUMN "epsilon";

-- CreateTable
CREATE TABLE "budget_epoch" (
    "budget" TEXT NOT NULL,
    "epoch" INTEGER NOT NULL,
    "epsilon" DOUBLE PRECISION NOT NULL,
    "delta" DOUBLE PRECISION NOT NULL,
    "spent_epsilon" DOUBLE PRECISION NOT NULL,
    "spent_delta" DOUBLE PRECISION NOT NULL,
    "releases" INTEGER NOT NULL,
    "closed_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "budget_epoch_pkey" PRIMARY KEY ("budget","epoch")
);
