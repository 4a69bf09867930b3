import type { ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Verifier } from '../auth/tokens.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import { badInput } from '../errors.js';
import { config } from '../config.js';
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
  /** Exports streaming now, per principal (work limit: CDM_MAX_CONCURRENT_EXPORTS). */
  const exporting = new Map<string, number>();
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
      const limit = config().CDM_MAX_SYNTHETIC_ROWS_PER_OPERATION;
      if (rows > limit) return sendError(res, 'QUERY_TOO_COMPLEX', `An export streams at most ${limit} rows (CDM_MAX_SYNTHETIC_ROWS_PER_OPERATION).`), true;
      if ((exporting.get(caller.id) ?? 0) >= config().CDM_MAX_CONCURRENT_EXPORTS)
        return sendError(res, 'RATE_LIMITED', `At most ${config().CDM_MAX_CONCURRENT_EXPORTS} exports at once per principal (CDM_MAX_CONCURRENT_EXPORTS); wait for one to finish.`), true;
      exporting.set(caller.id, (exporting.get(caller.id) ?? 0) + 1);
      res.once('close', () => {
        const n = (exporting.get(caller.id) ?? 1) - 1;
        if (n > 0) exporting.set(caller.id, n);
        else exporting.delete(caller.id);
      });
      const { info, model } = await engine.synthetic.model(caller, ds, { epsilon: num('epsilon'), delta: num('delta') });
      const sample = engine.synthetic.sampleColumns(ds, info.id, model, rows, seed);
      res.writeHead(200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="${domain.name}-${ds.name}-synthetic.csv"`,
        'x-cdm-release-id': info.releaseId,
        'x-cdm-cached': String(info.cached),
        'x-cdm-epsilon': String(info.epsilon),
      });
      res.write(sample.columns.map(csvCell).join(',') + '\n');
      for (let start = 0; start < sample.n; start += CHUNK) {
        let text = '';
        for (let r = start; r < Math.min(sample.n, start + CHUNK); r++) text += sample.columns.map((c) => csvCell(sample.value(r, c))).join(',') + '\n';
        if (!res.write(text)) await new Promise((r) => res.once('drain', r));
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
