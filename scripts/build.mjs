#!/usr/bin/env node
// Build: generate the Prisma client when prisma/schema.prisma changed, then compile with tsc
// (tsc, not esbuild: type-graphql needs decorator metadata).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const schema = readFileSync(join(root, 'prisma', 'schema.prisma'));
const hash = createHash('sha256').update(schema).digest('hex');
const stamp = join(root, 'src', 'generated', 'prisma', '.schema-hash');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== hash) {
  // `prisma generate` needs no engine binary with driver adapters, but the CLI checks that one
  // exists: point it at any file so it never tries to download one.
  const fakeEngine = join(root, 'prisma', 'no-schema-engine');
  execFileSync(process.execPath, [join(root, 'node_modules', 'prisma', 'build', 'index.js'), 'generate'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: fakeEngine, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' },
  });
  mkdirSync(join(root, 'src', 'generated', 'prisma'), { recursive: true });
  writeFileSync(stamp, hash);
}
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], {
  cwd: root,
  stdio: 'inherit',
});
// `npm start` (scripts/start.mjs) rebuilds only when a source is newer than this stamp.
writeFileSync(join(root, 'dist', '.build-stamp'), new Date().toISOString());
