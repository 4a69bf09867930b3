-- CreateTable
CREATE TABLE "principal" (
    "id" TEXT NOT NULL,
    "roles" TEXT[],
    "revoked" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "principal_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "principal_budget" (
    "principal_id" TEXT NOT NULL,
    "epsilon" DOUBLE PRECISION NOT NULL,
    "delta" DOUBLE PRECISION NOT NULL,
    "spent" JSONB NOT NULL DEFAULT '{}',
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "principal_budget_pkey" PRIMARY KEY ("principal_id")
);

-- CreateTable
CREATE TABLE "global_budget" (
    "dataset" TEXT NOT NULL,
    "epsilon" DOUBLE PRECISION NOT NULL,
    "delta" DOUBLE PRECISION NOT NULL,
    "spent" JSONB NOT NULL DEFAULT '{}',
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "global_budget_pkey" PRIMARY KEY ("dataset")
);

-- CreateTable
CREATE TABLE "ledger_entry" (
    "id" TEXT NOT NULL,
    "principal_id" TEXT NOT NULL,
    "dataset" TEXT NOT NULL,
    "release_id" TEXT NOT NULL,
    "aggregate" TEXT NOT NULL,
    "mechanism" TEXT NOT NULL,
    "epsilon" DOUBLE PRECISION NOT NULL,
    "delta" DOUBLE PRECISION NOT NULL,
    "cost" JSONB NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ledger_entry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "release" (
    "id" TEXT NOT NULL,
    "plan_key" TEXT NOT NULL,
    "dataset" TEXT NOT NULL,
    "aggregate" TEXT NOT NULL,
    "principal_id" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "result" JSONB,
    "result_hash" TEXT,
    "epsilon" DOUBLE PRECISION NOT NULL,
    "delta" DOUBLE PRECISION NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMP(3),

    CONSTRAINT "release_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_entry" (
    "seq" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "detail" JSONB NOT NULL,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_entry_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "policy" (
    "scope" TEXT NOT NULL,
    "total_epsilon" DOUBLE PRECISION,
    "total_delta" DOUBLE PRECISION,
    "max_epsilon_per_query" DOUBLE PRECISION,
    "allowed_aggregates" TEXT[],
    "rate_limit_per_minute" INTEGER,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "policy_pkey" PRIMARY KEY ("scope")
);

-- CreateTable
CREATE TABLE "synthetic_model" (
    "id" TEXT NOT NULL,
    "dataset" TEXT NOT NULL,
    "epsilon" DOUBLE PRECISION NOT NULL,
    "delta" DOUBLE PRECISION NOT NULL,
    "release_id" TEXT NOT NULL,
    "model" JSONB NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "synthetic_model_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ledger_entry_principal_id_created_at_idx" ON "ledger_entry"("principal_id", "created_at");

-- CreateIndex
CREATE INDEX "ledger_entry_dataset_created_at_idx" ON "ledger_entry"("dataset", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "release_plan_key_key" ON "release"("plan_key");

-- CreateIndex
CREATE INDEX "release_dataset_created_at_idx" ON "release"("dataset", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "audit_entry_hash_key" ON "audit_entry"("hash");

-- CreateIndex
CREATE INDEX "synthetic_model_dataset_idx" ON "synthetic_model"("dataset");

-- AddForeignKey
ALTER TABLE "principal_budget" ADD CONSTRAINT "principal_budget_principal_id_fkey" FOREIGN KEY ("principal_id") REFERENCES "principal"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
