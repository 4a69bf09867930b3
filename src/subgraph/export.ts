import type { ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Verifier } from '../auth/tokens.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import { badInput } from '../errors.js';
import { checkWork, ConcurrencyLimit } from '../limits.js';
import { checkSampleSize } from '../query/synthetic.js';
import type { Route } from '../http.js';
import type { QueryEngine } from '../query/engine.js';

/**
 * Streaming CSV export of DP synthetic rows: GET /export/<dataset>.csv?rows=&seed=&epsilon=&delta=
 * with a bearer token. Same model, same charge-once rule and same errors (as JSON with a code) as
 * the GraphQL field; the gateway serves it on its own origin under /export/<domain>/<dataset>.csv.
 */
const STATUS: Record<string, number> = { QUERY_TOO_COMPLEX: 400, UNAUTHENTICATED: 401, FORBIDDEN: 403, BAD_USER_INPUT: 400, BUDGET_EXHAUSTED: 403, POLICY_VIOLATION: 403, NOT_FOUND: 404, RATE_LIMITED: 429 };
const CHUNK = 5000;

export function exportRoute(domain: DomainDeclaration, engine: QueryEngine, verifier: Verifier): Route {
  /** Exports streaming now, per principal (work limit: the policy's maxConcurrentExports). */
  const exporting = new ConcurrencyLimit();
  return async (req, res, url) => {
    const m = /^\/export\/([a-zA-Z][a-zA-Z0-9]*)\.csv$/.exec(url.pathname);
    if (!m || req.method !== 'GET') return false;
    try {
      const caller = await verifier(req.headers.authorization);
      const ds = domain.sensitivity === 'sensitive' ? domain.datasets.find((d) => d.name === m[1]) : undefined;
      if (!ds) return sendError(res, 'NOT_FOUND', `No sensitive dataset "${m[1]}" in ${domain.name}.`), true;
      const num = (name: string, fallback?: number) => {
        const v = url.searchParams.get(name);
        if (v === null) return fallback;
        const n = Number(v);
        if (v.trim() === '' || !Number.isFinite(n)) throw badInput(`${name} must be a number.`, { field: name });
        return n;
      };
      const rows = num('rows', 1000)!;
      const seed = num('seed', 0)!;
      checkSampleSize(rows);
      // The work limits of the caller's policy, at the same check point as GraphQL operations.
      const policy = await engine.policyFor(caller);
      checkWork(policy, { exportedRows: rows });
      res.once('close', exporting.take(caller.id, policy.maxConcurrentExports, 'CSV exports', 'maxConcurrentExports'));
      const { info, model } = await engine.synthetic.model(caller, ds, { epsilon: num('epsilon'), delta: num('delta') });
      res.writeHead(200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="${domain.name}-${ds.name}-synthetic.csv"`,
        'x-cdm-release-id': info.releaseId,
        'x-cdm-cached': String(info.cached),
        'x-cdm-epsilon': String(info.epsilon),
      });
      // Seekable sampling: each chunk is drawn when the client has taken the previous one, so memory
      // stays one chunk whatever `rows` is (backpressure: wait for 'drain').
      let header = true;
      for (let start = 0; start < rows; start += CHUNK) {
        if (res.destroyed) return true;
        const page = engine.synthetic.page(ds, info.id, model, seed, start, Math.min(CHUNK, rows - start));
        let text = header ? page.columns.map(csvCell).join(',') + '\n' : '';
        header = false;
        for (let r = 0; r < page.count; r++) text += page.columns.map((c) => csvCell(page.value(r, c))).join(',') + '\n';
        if (!res.write(text)) await drained(res);
      }
      res.end();
    } catch (e) {
      if (res.headersSent) res.destroy();
      else if (e instanceof GraphQLError && typeof e.extensions.code === 'string' && STATUS[e.extensions.code]) sendError(res, e.extensions.code, e.message, e.extensions);
      else sendError(res, 'INTERNAL_SERVER_ERROR', 'Internal error.');
    }
    return true;
  };
}

/** Resolves when the response can take more, or is closed (each listener removed after). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function csvCell(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function sendError(res: ServerResponse, code: string, message: string, extensions: Record<string, unknown> = {}) {
  const { http: _drop, ...ext } = extensions;
  res.writeHead(STATUS[code] ?? 500, { 'content-type': 'application/json', ...(code === 'UNAUTHENTICATED' ? { 'www-authenticate': 'Bearer' } : {}) });
  res.end(JSON.stringify({ errors: [{ message, extensions: { ...ext, code } }] }));
}
