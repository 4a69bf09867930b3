-- CreateTable
CREATE TABLE "trained_model" (
    "id" TEXT NOT NULL,
    "dataset" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "release_id" TEXT,
    "epsilon" DOUBLE PRECISION NOT NULL,
    "delta" DOUBLE PRECISION NOT NULL,
    "model" JSONB NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "trained_model_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "trained_model_dataset_created_at_idx" ON "trained_model"("dataset", "created_at");
