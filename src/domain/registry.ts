import { validateDomain, type DomainDeclaration } from './declaration.js';
import { census } from './demo/census.js';
import { health } from './demo/health.js';
import { justice } from './demo/justice.js';
import { reference } from './demo/reference.js';

/** The demo domains that ship with the repo, in port order (4001, 4002, ...). */
export const demoDeclarations = [reference, census, health, justice];

let cache: DomainDeclaration[] | undefined;
export function demoDomains(): DomainDeclaration[] {
  cache ??= demoDeclarations.map(validateDomain);
  return cache;
}

export function demoDomain(name: string): DomainDeclaration {
  const d = demoDomains().find((x) => x.name === name);
  if (!d) throw new Error(`Unknown domain "${name}". Known: ${demoDomains().map((x) => x.name).join(', ')}`);
  return d;
}
