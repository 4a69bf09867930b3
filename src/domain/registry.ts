import { readFileSync } from 'node:fs';
import type { DomainDeclaration, DomainDeclarationInput } from './declaration.js';
import { declarationFiles, loadDataDirSync } from './loader.js';
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

/** A demo declaration as written in its file (before validation and defaults), e.g. to derive variants. */
export function demoDeclarationInput(name: string): DomainDeclarationInput {
  for (const file of declarationFiles(fromRoot('domains'))) {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as DomainDeclarationInput;
    if (raw.name === name) return raw;
  }
  throw new Error(`Unknown demo domain "${name}".`);
}

export function demoDomain(name: string): DomainDeclaration {
  return findDomain(demoDomains(), name);
}

export function findDomain(domains: DomainDeclaration[], name: string): DomainDeclaration {
  const d = domains.find((x) => x.name === name);
  if (!d) throw new Error(`Unknown domain "${name}". Known: ${domains.map((x) => x.name).join(', ')}`);
  return d;
}
