import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { fromRoot } from '../paths.js';

/**
 * A new PGlite database from a template instead of initdb (issue 17, start-up). PGlite creates a
 * new cluster by running initdb inside WebAssembly: seconds of CPU for every domain's database on
 * a first start, for the wire protocol's catalog at every start, and for every in-memory test
 * database. Loading the same files from a tarball of an empty cluster takes a fraction of that.
 * The tarball depends only on the PGlite version (its name carries it), is made once (by the build,
 * or by the first start that lacks it) and kept with the build output (dist/, not committed).
 */
const VERSION = (JSON.parse(readFileSync(fromRoot('node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')) as { version: string }).version;
export const TEMPLATE_FILE = fromRoot('dist', '.cache', `pglite-${VERSION}-empty.tar.gz`);

let template: Blob | undefined;
function loadTemplate(): Blob | undefined {
  if (!template && existsSync(TEMPLATE_FILE)) template = new Blob([readFileSync(TEMPLATE_FILE)]);
  return template;
}

/** Makes the template if it is missing (written under a temporary name, then renamed: atomic). */
export async function ensurePgliteTemplate(): Promise<boolean> {
  if (existsSync(TEMPLATE_FILE)) return false;
  const db = await PGlite.create('memory://');
  try {
    const dump = await db.dumpDataDir('gzip');
    mkdirSync(dirname(TEMPLATE_FILE), { recursive: true });
    const tmp = join(dirname(TEMPLATE_FILE), `.tmp-${process.pid}-${Date.now()}`);
    writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    renameSync(tmp, TEMPLATE_FILE);
  } finally {
    await db.close();
  }
  return true;
}

/** Whether opening `dataDir` would create a new cluster (in memory, or a directory without one). */
export const isNewCluster = (dataDir: string) => dataDir.startsWith('memory://') || !existsSync(join(dataDir, 'PG_VERSION'));

/** Opens PGlite at `dataDir`; a new cluster starts from the template when there is one (else initdb). */
export async function openPGliteCluster(dataDir = 'memory://'): Promise<PGlite> {
  const loadDataDir = isNewCluster(dataDir) ? loadTemplate() : undefined;
  return PGlite.create(dataDir, loadDataDir ? { loadDataDir } : {});
}
