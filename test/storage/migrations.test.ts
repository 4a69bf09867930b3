// The checked-in Prisma migrations (prisma/migrations) must produce prisma/schema.prisma, and
// must apply cleanly, in order, to an empty PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

/** The repository root: the nearest directory above this file holding package.json (works from dist/test). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

const root = repoRoot();
const migrationsDir = join(root, 'prisma', 'migrations');

function migrationFiles(): string[] {
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b))
    .map((name) => join(migrationsDir, name, 'migration.sql'));
}

test('the migrations produce prisma/schema.prisma (scripts/prisma-migrations.mjs check)', { timeout: 180_000 }, async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolveRun, reject) => {
    const child = spawn(
      process.execPath,
      ['--experimental-wasm-modules', '--no-warnings=ExperimentalWarning', join('scripts', 'prisma-migrations.mjs'), 'check'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, output }));
  });
  assert.equal(code, 0, `prisma-migrations check failed:\n${output}`);
});

test('every migration applies in order to an empty database and creates the node tables', { timeout: 60_000 }, async () => {
  const files = migrationFiles();
  assert.ok(files.length > 0, 'no migration in prisma/migrations');
  const db = new PGlite();
  try {
    for (const file of files) {
      try {
        await db.exec(readFileSync(file, 'utf8'));
      } catch (error) {
        assert.fail(`${file} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const { rows } = await db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    const tables = new Set(rows.map((r) => r.table_name));
    for (const expected of [
      'principal',
      'principal_budget',
      'global_budget',
      'ledger_entry',
      'release',
      'audit_entry',
      'policy',
      'synthetic_model',
    ]) {
      assert.ok(tables.has(expected), `table ${expected} missing; have: ${[...tables].sort().join(', ')}`);
    }
  } finally {
    await db.close();
  }
});
