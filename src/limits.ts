import { config } from './config.js';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError, Kind, parse, visit, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { ErrorCode, MeshError } from './errors.js';
import type { EffectivePolicy } from './governance/policy.js';

/**
 * Work limits on documents (SPEC sections 4 and 6): depth, aliases, fields and fragment nesting are
 * bounded before any other check runs, in time linear in the document's size, so a small document
 * cannot make the gateway or a subgraph do exponential work (e.g. fragments that spread the next
 * fragment twice: 1 KB that expands to 2^n fields).
 *
 * How it stays linear: each fragment is summarised once (its own depth, expanded field and alias
 * counts, the longest spread chain below it), in post-order over the spread graph, with explicit
 * stacks (no recursion a 3,000-fragment chain can overflow). A spread then costs O(1): it adds the
 * fragment's summary. Expanded counts may be astronomically large (2^3000 is Infinity); they are only
 * compared with the limits.
 *
 * Introspection (`__schema`, `__type`) is the catalog and is never refused by a limit sized for
 * data queries: paths below an introspection field are measured against their own, larger bounds
 * that every standard introspection query (GraphiQL's, graphql-codegen's, rover's) fits, while
 * graphql's own MaxIntrospectionDepthRule (which runs after this check) refuses cyclic
 * `fields { type { fields ... } }` nesting.
 */
export interface DocumentLimits {
  maxDepth: number;
  maxAliases: number;
  maxFields: number;
  /** Longest chain of fragment spreads (fragment A spreads B spreads C ...). */
  maxFragmentNesting: number;
  maxIntrospectionDepth: number;
  maxIntrospectionFields: number;
}

export const LIMITS: DocumentLimits = {
  maxDepth: 12,
  maxAliases: 100,
  maxFields: 500,
  maxFragmentNesting: 20,
  maxIntrospectionDepth: 20,
  maxIntrospectionFields: 2000,
};

/** Parse bound handed to Apollo (`parseOptions.maxTokens`): a document is refused while it is read. */
export const MAX_TOKENS = 50_000;

/**
 * Query planning at the gateway is a search over which subgraph serves each selection; with shared
 * (`@shareable`) fields such as `me` repeated under many aliases, the number of candidate plans
 * grows with the product of the options. The planner stops at `maxEvaluatedPlans` (Apollo's
 * default is 10,000) and keeps the best plan found so far; plans are cached per query text.
 */
export const PLANNER_CONFIG = { debug: { maxEvaluatedPlans: config().CDM_MAX_EVALUATED_PLANS } };

/** What a selection set (or a fragment) contributes, relative to where it is used. */
interface Summary {
  /** Deepest path that does not enter introspection. */
  dataDepth: number;
  /** Deepest path that enters introspection (0 if none), counted from this set's level. */
  introDepth: number;
  /** Deepest path of any kind: what the set costs when used inside introspection. */
  anyDepth: number;
  dataFields: number;
  introFields: number;
  aliases: number;
  /** Longest spread chain starting here. */
  nesting: number;
}

interface Local extends Summary {
  /** Spreads met in this set (not followed), with the depth offset and whether inside introspection. */
  spreads: { name: string; offset: number; intro: boolean }[];
}

const INTROSPECTION_ROOTS = new Set(['__schema', '__type']);
const EMPTY: Summary = { dataDepth: 0, introDepth: 0, anyDepth: 0, dataFields: 0, introFields: 0, aliases: 0, nesting: 0 };

/** One pass over a selection set's own nodes (spreads recorded, not followed). */
function localSummary(set: SelectionSetNode): Local {
  const out: Local = { ...EMPTY, spreads: [] };
  const stack: { set: SelectionSetNode; depth: number; intro: boolean }[] = [{ set, depth: 0, intro: false }];
  while (stack.length > 0) {
    const { set: s, depth, intro } = stack.pop()!;
    for (const sel of s.selections) {
      if (sel.kind === Kind.FIELD) {
        const inIntro = intro || INTROSPECTION_ROOTS.has(sel.name.value);
        const d = depth + 1;
        if (inIntro) {
          out.introFields++;
          out.introDepth = Math.max(out.introDepth, d);
        } else {
          out.dataFields++;
          out.dataDepth = Math.max(out.dataDepth, d);
        }
        out.anyDepth = Math.max(out.anyDepth, d);
        if (sel.alias) out.aliases++;
        if (sel.selectionSet) stack.push({ set: sel.selectionSet, depth: d, intro: inIntro });
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        stack.push({ set: sel.selectionSet, depth, intro });
      } else {
        out.spreads.push({ name: sel.name.value, offset: depth, intro });
      }
    }
  }
  return out;
}

/** Adds a used fragment's summary at a spread (saturating: counts only meet the limits). */
function addSpread(acc: Summary, f: Summary, offset: number, intro: boolean): void {
  if (intro) {
    acc.introDepth = Math.max(acc.introDepth, offset + f.anyDepth);
    acc.introFields += f.dataFields + f.introFields;
  } else {
    acc.dataDepth = Math.max(acc.dataDepth, offset + f.dataDepth);
    if (f.introDepth > 0) acc.introDepth = Math.max(acc.introDepth, offset + f.introDepth);
    acc.dataFields += f.dataFields;
    acc.introFields += f.introFields;
  }
  acc.anyDepth = Math.max(acc.anyDepth, offset + f.anyDepth);
  acc.aliases += f.aliases;
  acc.nesting = Math.max(acc.nesting, f.nesting + 1);
}

/**
 * Summaries of every fragment, each computed once, children before parents (iterative post-order).
 * A spread of an unknown fragment or one closing a cycle adds nothing here: graphql's own rules
 * (KnownFragmentNames, NoFragmentCycles) refuse those documents next.
 */
function fragmentSummaries(fragments: Map<string, FragmentDefinitionNode>): Map<string, Summary> {
  const locals = new Map<string, Local>();
  const done = new Map<string, Summary>();
  const onStack = new Set<string>();
  for (const root of fragments.keys()) {
    if (done.has(root)) continue;
    const stack: { name: string; next: number }[] = [{ name: root, next: 0 }];
    onStack.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      let local = locals.get(top.name);
      if (!local) locals.set(top.name, (local = localSummary(fragments.get(top.name)!.selectionSet)));
      if (top.next < local.spreads.length) {
        const child = local.spreads[top.next++]!.name;
        if (fragments.has(child) && !done.has(child) && !onStack.has(child)) {
          onStack.add(child);
          stack.push({ name: child, next: 0 });
        }
        continue;
      }
      const sum: Summary = { ...local };
      for (const sp of local.spreads) {
        const f = done.get(sp.name);
        if (f) addSpread(sum, f, sp.offset, sp.intro);
      }
      done.set(top.name, sum);
      onStack.delete(top.name);
      stack.pop();
    }
  }
  return done;
}

function operationSummary(op: OperationDefinitionNode, fragments: Map<string, Summary>): Summary {
  const local = localSummary(op.selectionSet);
  const sum: Summary = { ...local };
  for (const sp of local.spreads) {
    const f = fragments.get(sp.name);
    if (f) addSpread(sum, f, sp.offset, sp.intro);
  }
  return sum;
}

const fmt = (n: number) => (n > 1e9 ? 'more than a billion' : String(n));

/** The first limit a document exceeds (a message), or undefined. Linear in the document's size. */
export function exceededLimit(document: DocumentNode, limits: DocumentLimits = LIMITS): string | undefined {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const summaries = fragmentSummaries(fragments);
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue;
    const s = operationSummary(d, summaries);
    const name = d.name ? ` ${d.name.value}` : '';
    if (s.nesting > limits.maxFragmentNesting) return `Operation${name}: fragments nested ${s.nesting} deep exceed ${limits.maxFragmentNesting}.`;
    if (s.dataDepth > limits.maxDepth) return `Operation${name}: depth ${s.dataDepth} exceeds ${limits.maxDepth}.`;
    if (s.aliases > limits.maxAliases) return `Operation${name}: ${fmt(s.aliases)} aliases exceed ${limits.maxAliases}.`;
    if (s.dataFields > limits.maxFields) return `Operation${name}: ${fmt(s.dataFields)} fields exceed ${limits.maxFields}.`;
    if (s.introDepth > limits.maxIntrospectionDepth) return `Operation${name}: introspection depth ${s.introDepth} exceeds ${limits.maxIntrospectionDepth}.`;
    if (s.introFields > limits.maxIntrospectionFields) return `Operation${name}: ${fmt(s.introFields)} introspection fields exceed ${limits.maxIntrospectionFields}.`;
  }
  return undefined;
}

export const tooComplex = (message: string) =>
  new GraphQLError(message, { extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, http: { status: 400 } } });

/**
 * The check at the HTTP front of the gateway and every subgraph (src/http.ts), before Apollo sees
 * the request: Apollo runs graphql's validation rules (some quadratic in a selection set's size,
 * some following every fragment spread) before any plugin could refuse, and replaces a validation
 * rule's own code by GRAPHQL_VALIDATION_FAILED. Here the document is parsed once more (bounded by
 * MAX_TOKENS, linear) and measured; a refusal is a 400 with QUERY_TOO_COMPLEX. Documents that do
 * not parse are left to Apollo, which answers GRAPHQL_PARSE_FAILED.
 */
export function checkDocumentText(query: unknown, limits: DocumentLimits = LIMITS): GraphQLError | undefined {
  if (typeof query !== 'string') return undefined;
  let document: DocumentNode;
  try {
    document = parse(query, { maxTokens: MAX_TOKENS, noLocation: true });
  } catch (e) {
    return /contains more than \d+ tokens/.test((e as Error).message) ? tooComplex(`The document has more than ${MAX_TOKENS} tokens.`) : undefined;
  }
  const exceeded = exceededLimit(document, limits);
  return exceeded ? tooComplex(exceeded) : undefined;
}

/**
 * Inputs no field can use, refused for every field at once before any resolver or charge:
 * - a number that is not finite: a literal such as `1e400` (graphql-js parses it to Infinity) or a
 *   JSON variable JSON.parse turned into Infinity (the gateway would forward it as `null`);
 * - a string with a NUL character: PostgreSQL text cannot hold one, so it could only fail later,
 *   inside the database, as an internal error.
 */
export function invalidInput(document: DocumentNode, variables: Record<string, unknown> | undefined): string | undefined {
  let found: string | undefined;
  const number = (raw: string) => {
    if (!Number.isFinite(Number(raw))) found ??= `${raw} is not a finite number.`;
  };
  visit(document, {
    FloatValue: (node) => number(node.value),
    IntValue: (node) => number(node.value),
    StringValue: (node) => {
      if (node.value.includes('\u0000')) found ??= 'Strings may not contain NUL characters.';
    },
  });
  if (found) return found;
  const stack: unknown[] = [variables];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number' && !Number.isFinite(v)) return `${v} is not a finite number.`;
    if (typeof v === 'string' && v.includes('\u0000')) return 'Strings may not contain NUL characters.';
    if (v && typeof v === 'object') for (const x of Object.values(v)) stack.push(x);
  }
  return undefined;
}

/**
 * Request inputs the client got wrong, refused as a whole with 400 before anything runs: numbers
 * that are not finite, strings with NUL characters, and an operationName that names no operation of the document (or none for a
 * document with several), which the gateway's executor would otherwise fail on internally.
 */
export function requestInputsPlugin<C extends BaseContext>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation(rc) {
          const bad = invalidInput(rc.document, rc.request.variables);
          if (bad) throw new GraphQLError(bad, { extensions: { code: ErrorCode.BAD_USER_INPUT, http: { status: 400 } } });
          if (rc.operation) return;
          const name = rc.request.operationName;
          throw new GraphQLError(name ? `No operation named "${name}" in the document.` : 'The document has several operations: name one with operationName.', {
            extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } },
          });
        },
      };
    },
  };
}

/**
 * Work limits on what an operation produces (SPEC section 4, "work is bounded too"; issue 11): free
 * fields still cost work, so every operation's rows (synthetic rows generated, rows exported,
 * public buckets released, every field and alias together) are known from its arguments and plans
 * and checked here, the one check point, against the caller's policy before anything runs.
 */
export interface OperationWork {
  syntheticRows: number;
  exportedRows: number;
  buckets: number;
}

export function checkWork(policy: Pick<EffectivePolicy, 'maxRowsPerOperation'>, work: Partial<OperationWork>): void {
  const w: OperationWork = { syntheticRows: 0, exportedRows: 0, buckets: 0, ...work };
  const rows = w.syntheticRows + w.exportedRows + w.buckets;
  const limit = policy.maxRowsPerOperation;
  if (!(rows > limit)) return;
  const parts = [w.syntheticRows && `generate ${w.syntheticRows} synthetic rows`, w.exportedRows && `export ${w.exportedRows} rows`, w.buckets && `release ${w.buckets} buckets`].filter(Boolean);
  throw new MeshError(
    ErrorCode.QUERY_TOO_COMPLEX,
    `This operation would ${parts.join(', ')}: ${rows} rows, and your policy allows ${limit} per operation (maxRowsPerOperation). Nothing was run or charged.`,
    { ...w, rows, limit },
  );
}

/**
 * Operations one principal runs at once, per process (the policy's maxConcurrentExports for CSV
 * exports, maxConcurrentOperations for operations computing new DP releases).
 * `take` refuses with RATE_LIMITED when the principal is at its limit, else returns the release.
 */
export class ConcurrencyLimit {
  private readonly running = new Map<string, number>();
  take(principal: string, limit: number, what: string, field: string): () => void {
    const n = this.running.get(principal) ?? 0;
    if (n >= limit) throw new MeshError(ErrorCode.RATE_LIMITED, `At most ${limit} ${what} at once per principal (${field}); wait for one to finish.`, { limit, field });
    this.running.set(principal, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.running.get(principal) ?? 1) - 1;
      if (left > 0) this.running.set(principal, left);
      else this.running.delete(principal);
    };
  }
}
