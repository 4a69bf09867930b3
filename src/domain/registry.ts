import type { DomainDeclaration } from './declaration.js';
import { loadDataDirSync } from './loader.js';
import { fromRoot } from '../paths.js';

/**
 * The demo domains that ship with the repo: the declaration files under domains/ (JSON), in name
 * order, which is port order (4001, 4002, ...). `cdm start` loads its domains from a folder at run
 * time (src/domain/loader.ts); this is the shipped set that schema/ publishes and tests use.
 */
let cache: DomainDeclaration[] | undefined;
export function demoDomains(): DomainDeclaration[] {
  cache ??= loadDataDirSync(fromRoot('domains'));
  return cache;
}

export function demoDomain(name: string): DomainDeclaration {
  return findDomain(demoDomains(), name);
}

export function findDomain(domains: DomainDeclaration[], name: string): DomainDeclaration {
  const d = domains.find((x) => x.name === name);
  if (!d) throw new Error(`Unknown domain "${name}". Known: ${domains.map((x) => x.name).join(', ')}`);
  return d;
}
