import { demoDomains } from '../../src/domain/registry.js';
import { startTestMesh, type TestMesh } from '../helpers/mesh.js';

/** A test mesh (in-process, PGlite) serving the wire protocol on a free port, as `cdm start` does. */
export async function startWireMesh(): Promise<TestMesh & { port: number }> {
  const t = await startTestMesh('pglite', demoDomains(), { pgwirePort: 0 });
  return Object.assign(t, { port: t.mesh.pgwire!.port });
}
