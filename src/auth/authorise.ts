import type { DomainDeclaration } from '../domain/declaration.js';
import { forbidden } from '../errors.js';
import { isAdminOf, type Caller } from './tokens.js';

/**
 * The one authorisation point for data (SPEC section 6: "a role allowed by the domain's policy is
 * needed to query"). Every data path calls it before planning, charging or reading: the query
 * engine's policy lookup (DP fields, DP SQL, synthetic fields and CSV exports, estimates, the
 * operation-level preflight, the wire protocol) and the open-row resolvers. A token that verifies
 * but carries no allowed role (none, an unknown one, an empty list) is authenticated but not
 * authorised: FORBIDDEN, before any budget row exists for it.
 *
 * Allowed: a role the domain's declaration lists in `policy.queryRoles` (default ["analyst"]), or
 * an admin of the domain (admins manage the domain's budgets and must be able to check answers).
 */
export const DEFAULT_QUERY_ROLES: readonly string[] = ['analyst'];

export function queryRoles(domain: DomainDeclaration): readonly string[] {
  return domain.policy.queryRoles ?? DEFAULT_QUERY_ROLES;
}

export function canQuery(caller: Caller, domain: DomainDeclaration): boolean {
  const allowed = queryRoles(domain);
  return caller.roles.some((r) => allowed.includes(r)) || isAdminOf(caller, domain.name);
}

export function authoriseQuery(caller: Caller, domain: DomainDeclaration): void {
  if (!canQuery(caller, domain))
    throw forbidden(`Querying ${domain.name} needs one of the roles ${queryRoles(domain).join(', ')} (or admin of ${domain.name}); your token has ${caller.roles.length ? caller.roles.join(', ') : 'none'}.`);
}
