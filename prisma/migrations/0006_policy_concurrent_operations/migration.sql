-- AlterTable: per-principal limit on operations computing new DP releases (null: the config default)
ALTER TABLE "policy" ADD COLUMN "max_concurrent_operations" INTEGER;
