#!/usr/bin/env node
// `npm start`: build only when a source changed since the last build, then run `cdm start` IN THIS
// PROCESS (no shell or second node in between), so every signal sent to it reaches the mesh, and
// `--exit-with-parent` stops the mesh when npm itself dies, even by SIGKILL (src/cli/lifecycle.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const main = join(root, 'dist', 'src', 'cli', 'main.js');
const stamp = join(root, 'dist', '.build-stamp');
const INPUTS = ['src', 'gateway', 'test', 'bench', 'prisma', 'tsconfig.json', 'package-lock.json'];

/** Newest modification time under the build's inputs (directories too: a deleted file changes its folder). */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const name of readdirSync(path)) if (name !== 'generated') m = Math.max(m, newest(join(path, name)));
  return m;
}

const sources = Math.max(...INPUTS.map((p) => newest(join(root, p))));
if (!existsSync(main) || !existsSync(stamp) || statSync(stamp).mtimeMs < sources) {
  console.log('building (sources changed since the last build)...');
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  console.log(`built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}
process.env.APOLLO_TELEMETRY_DISABLED = '1';
process.argv = [process.argv[0], main, 'start', '--exit-with-parent', ...process.argv.slice(2)];
await import(pathToFileURL(main).href);
