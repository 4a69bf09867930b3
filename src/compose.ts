import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { composeServices } from '@apollo/composition';
import { printSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { DomainDeclaration } from './domain/declaration.js';
import { fromRoot } from './paths.js';
import { buildDomainSchema, subgraphSdlSource } from './subgraph/schema.js';

/**
 * Composition: each domain's subgraph SDL and the supergraph, as checked in under schema/.
 * The supergraph names each subgraph's default URL (port 4001 and up in declaration order);
 * running processes override them by name.
 */
export const DEFAULT_SUBGRAPH_PORT = 4001;
export const subgraphUrl = (index: number, host = '127.0.0.1') => `http://${host}:${DEFAULT_SUBGRAPH_PORT + index}/graphql`;

export interface Composition {
  subgraphs: { name: string; sdl: string }[];
  supergraphSdl: string;
}

export function compose(domains: DomainDeclaration[]): Composition {
  const subgraphs = domains.map((d) => ({ name: d.name, sdl: printSubgraphSchema(buildDomainSchema(d)) }));
  const result = composeServices(subgraphs.map((s, i) => ({ name: s.name, typeDefs: parse(s.sdl), url: subgraphUrl(i) })));
  if (result.errors) {
    throw new Error(`Composition failed:\n${result.errors.map((e) => `  ${e.message}`).join('\n')}`);
  }
  return { subgraphs, supergraphSdl: result.supergraphSdl };
}

/**
 * The supergraph SDL of `domains`, kept under dist/.cache keyed by a hash of every subgraph's SDL
 * source and the composition library's version: composing takes a second or more of CPU, on the
 * critical path of every start, and its inputs rarely change between starts.
 */
export function supergraphOf(domains: DomainDeclaration[]): string {
  const h = createHash('sha256').update(COMPOSITION_VERSION);
  for (const d of domains) h.update(`\0${d.name}\0${subgraphSdlSource(d)}`);
  const file = fromRoot('dist', '.cache', `supergraph-${h.digest('hex').slice(0, 32)}.graphql`);
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const { supergraphSdl } = compose(domains);
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, supergraphSdl);
    renameSync(tmp, file);
  } catch {
    // A read-only checkout composes at every start; nothing else changes.
  }
  return supergraphSdl;
}
const COMPOSITION_VERSION = (JSON.parse(readFileSync(fromRoot('node_modules', '@apollo', 'composition', 'package.json'), 'utf8')) as { version: string }).version;

export const schemaFile = (name: string) => fromRoot('schema', `${name}.graphql`);

export function writeComposition(c: Composition): string[] {
  mkdirSync(fromRoot('schema'), { recursive: true });
  const files = [...c.subgraphs.map((s) => [schemaFile(s.name), s.sdl] as const), [schemaFile('supergraph'), c.supergraphSdl] as const];
  for (const [file, text] of files) writeFileSync(file, text.endsWith('\n') ? text : text + '\n');
  return files.map(([f]) => f);
}

/** Files under schema/ that differ from a fresh composition (empty when up to date). */
export function staleSchemaFiles(c: Composition): string[] {
  const expected = [...c.subgraphs.map((s) => [schemaFile(s.name), s.sdl] as const), [schemaFile('supergraph'), c.supergraphSdl] as const];
  return expected
    .filter(([file, text]) => !existsSync(file) || readFileSync(file, 'utf8') !== (text.endsWith('\n') ? text : text + '\n'))
    .map(([f]) => f);
}

export const readSupergraph = () => readFileSync(schemaFile('supergraph'), 'utf8');
