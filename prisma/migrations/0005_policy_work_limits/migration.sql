-- AlterTable: work limits in the policy (null: the config default)
ALTER TABLE "policy" ADD COLUMN "max_rows_per_operation" INTEGER,
ADD COLUMN "max_concurrent_exports" INTEGER;
