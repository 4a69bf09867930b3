#!/usr/bin/env node
// Build: generate the Prisma client when prisma/schema.prisma changed, then compile with tsc
// (tsc, not esbuild: type-graphql needs decorator metadata).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

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

// The web console (console/, React + Vite, its own tsconfig): type-checked and bundled into
// console/dist, which the gateway serves at /console. Rebuilt only when its sources, the schema or
// the lockfile changed (a full build takes a few seconds; most `npm start`s skip it).
const consoleDir = join(root, 'console');
const consoleInputs = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.name === 'dist' || e.name === 'node_modules' ? [] : e.isDirectory() ? consoleInputs(join(dir, e.name)) : [join(dir, e.name)],
  );
const consoleHash = createHash('sha256');
for (const f of [...consoleInputs(consoleDir).sort(), join(root, 'schema', 'supergraph.graphql'), join(root, 'package-lock.json')]) consoleHash.update(f.slice(root.length)).update(readFileSync(f));
const consoleDigest = consoleHash.digest('hex');
const consoleStamp = join(consoleDir, 'dist', '.source-hash');
if (!existsSync(consoleStamp) || readFileSync(consoleStamp, 'utf8') !== consoleDigest) {
  const started = Date.now();
  // Types of the console's GraphQL documents, from the checked-in supergraph (gql.tada).
  execFileSync(process.execPath, [join(root, 'node_modules', 'gql.tada', 'bin', 'cli.js'), 'generate', 'output', '--tsconfig', join(consoleDir, 'tsconfig.json')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(consoleDir, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(consoleDir, 'vite.config.ts')], { cwd: root, stdio: 'inherit' });
  writeFileSync(consoleStamp, consoleDigest);
  console.log(`console built into console/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// The empty PGlite cluster new embedded databases start from (once per PGlite version; a first
// `npm start` would otherwise run initdb in WebAssembly for every domain).
const { ensurePgliteTemplate } = await import(pathToFileURL(join(root, 'dist', 'src', 'storage', 'pglite-template.js')).href);
if (await ensurePgliteTemplate()) console.log('made the empty PGlite cluster template (dist/.cache)');

// `npm start` (scripts/start.mjs) rebuilds only when a source is newer than this stamp.
writeFileSync(join(root, 'dist', '.build-stamp'), new Date().toISOString());
