import type { Caller } from '../auth/tokens.js';
import { isAdminOf } from '../auth/tokens.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import { forbidden } from '../errors.js';
import type { QueryEngine } from '../query/engine.js';
import type { DomainDatabase } from '../storage/database.js';
import type DataLoader from 'dataloader';

/** Per-request context of a domain subgraph: the verified caller and the domain's services. */
export interface SubgraphContext {
  caller: Caller;
  domain: DomainDeclaration;
  db: DomainDatabase;
  engine: QueryEngine;
  /** Per-request batching loaders (entity resolution of open rows), keyed by dataset. */
  loaders: Map<string, DataLoader<string, Record<string, unknown> | null>>;
}

export function requireAdmin(ctx: SubgraphContext): void {
  if (!isAdminOf(ctx.caller, ctx.domain.name)) throw forbidden(`Only admins of ${ctx.domain.name} may do this.`);
}
