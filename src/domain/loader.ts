import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { config } from '../config.js';
import { fromRoot } from '../paths.js';
import { DeclarationError, validateDomain, type DomainDeclaration } from './declaration.js';

/**
 * Domains are data (issue 12): each file of a folder (`domains/` of the repo, or CDM_DOMAINS_DIR)
 * declares one domain, as JSON, YAML, or a JS/TS module whose default export is the declaration.
 * Files load in name order, which is also the port order of `cdm start` (hence the numeric prefixes
 * of the demo files). Every file goes through the same zod schema (declaration.ts); errors name
 * the file and the field.
 */
export const DATA_EXTENSIONS = ['.json', '.yaml', '.yml'];
export const MODULE_EXTENSIONS = ['.js', '.mjs', '.ts', '.mts'];

/** The declaration folders: CDM_DOMAINS_DIR (several joined with ':'), else domains/ of the repo. */
export const domainsDirs = () => (config().CDM_DOMAINS_DIR ?? fromRoot('domains')).split(delimiter).filter(Boolean).map((d) => resolve(d));

export interface LoadedDomains {
  domains: DomainDeclaration[];
  /** Files that failed to parse or validate: each message names its file. */
  errors: DeclarationError[];
}

/** A file's declaration, validated, with its CSV paths made absolute (relative to the file). */
export function fromInput(file: string, input: unknown): DomainDeclaration {
  try {
    const domain = validateDomain(input);
    for (const ds of domain.datasets) if (ds.source.kind === 'csv' && !isAbsolute(ds.source.file)) ds.source.file = resolve(dirname(file), ds.source.file);
    return domain;
  } catch (e) {
    throw new DeclarationError(`${display(file)}: ${(e as Error).message}`);
  }
}

/** Parses a JSON or YAML declaration synchronously. */
export function loadDataFile(file: string): DomainDeclaration {
  return fromInput(file, parseData(file));
}

function parseData(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return extname(file) === '.json' ? JSON.parse(text) : YAML.parse(text, { prettyErrors: true });
  } catch (e) {
    throw new DeclarationError(`${display(file)}: not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
}

/** Any supported declaration file. */
export async function loadDomainFile(file: string): Promise<DomainDeclaration> {
  const ext = extname(file);
  if (DATA_EXTENSIONS.includes(ext)) return loadDataFile(file);
  if (!MODULE_EXTENSIONS.includes(ext)) throw new DeclarationError(`${display(file)}: unsupported file type (use ${[...DATA_EXTENSIONS, ...MODULE_EXTENSIONS].join(', ')})`);
  let mod: Record<string, unknown>;
  try {
    mod = ext === '.ts' || ext === '.mts' ? await importTypeScript(file) : await import(pathToFileURL(file).href);
  } catch (e) {
    throw new DeclarationError(`${display(file)}: cannot load module: ${(e as Error).message}`);
  }
  const exported = mod.default ?? (Object.values(mod).length === 1 ? Object.values(mod)[0] : undefined);
  if (exported === undefined) throw new DeclarationError(`${display(file)}: the module must export the declaration as its default export`);
  return fromInput(file, exported);
}

/**
 * A TypeScript declaration is transpiled (types dropped, no type check) and imported from memory.
 * It must be self-contained: `import type` is fine, runtime imports are not.
 */
async function importTypeScript(file: string): Promise<Record<string, unknown>> {
  const ts = await import('typescript').catch(() => {
    throw new Error('TypeScript declarations need the typescript package; use JSON or YAML instead');
  });
  const out = ts.default.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { module: ts.default.ModuleKind.ESNext, target: ts.default.ScriptTarget.ES2022 },
    fileName: file,
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputText).toString('base64')}`);
}

export const declarationFiles = (dir: string) => {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DeclarationError(`${display(dir)}: no such folder of domain declarations (CDM_DOMAINS_DIR)`);
  return readdirSync(dir)
    .filter((f) => [...DATA_EXTENSIONS, ...MODULE_EXTENSIONS].includes(extname(f)) && !f.endsWith('.d.ts') && !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
};

/** Loads every declaration of the folders; a bad file is reported and skipped, never fatal to the rest. */
export async function loadDomainsDir(dirs = domainsDirs()): Promise<LoadedDomains> {
  const domains: DomainDeclaration[] = [];
  const errors: DeclarationError[] = [];
  for (const file of dirs.flatMap(declarationFiles)) {
    try {
      add(domains, await loadDomainFile(file), file);
    } catch (e) {
      errors.push(e instanceof DeclarationError ? e : new DeclarationError(`${display(file)}: ${(e as Error).message}`));
    }
  }
  return { domains, errors };
}

/** The synchronous variant for JSON/YAML folders (the demo set); any error throws. */
export function loadDataDirSync(dir: string): DomainDeclaration[] {
  const domains: DomainDeclaration[] = [];
  for (const file of declarationFiles(dir)) {
    if (!DATA_EXTENSIONS.includes(extname(file))) throw new DeclarationError(`${display(file)}: only JSON or YAML can be loaded synchronously`);
    add(domains, loadDataFile(file), file);
  }
  return domains;
}

function add(domains: DomainDeclaration[], d: DomainDeclaration, file: string) {
  if (domains.some((x) => x.name === d.name)) throw new DeclarationError(`${display(file)}: domain "${d.name}" is declared twice`);
  domains.push(d);
}

/** A file name as the user knows it: relative to the working directory when inside it. */
export function display(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export const fileStem = (file: string) => basename(file, extname(file));
