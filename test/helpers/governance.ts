import { after, before } from 'node:test';
import type { DomainDeclaration } from '../../src/domain/declaration.js';
import { GovernanceService } from '../../src/governance/service.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';

/** A migrated in-memory PGlite and its governance service for the enclosing suite (set in `before`). */
export function pgliteGovernance(domain: DomainDeclaration): { db: DomainDatabase; gov: GovernanceService } {
  const ctx = {} as { db: DomainDatabase; gov: GovernanceService };
  before(async () => {
    ctx.db = await openDomainDatabase(domain, { dataDir: 'memory://' });
    await migrate(ctx.db);
    ctx.gov = new GovernanceService(domain, ctx.db);
  });
  after(() => ctx.db?.close());
  return ctx;
}
