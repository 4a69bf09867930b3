import type { DomainDeclaration } from '../domain/declaration.js';
import type { Catalog } from './catalog.js';
import type { GraphQL } from './client.js';
import { describeDataset, runDataset } from './dataset.js';
import { toPgError, WireError } from './errors.js';
import * as P from './protocol.js';
import { routeAll, type Route } from './route.js';

/**
 * One connection after authentication: the simple and the extended query protocol over routed
 * statements. Session settings (SET) live here only; nothing a session does changes shared state.
 */
export interface SessionLimits {
  /** Default and maximum statement timeout (ms). */
  statementTimeoutMs: number;
  maxRows: number;
}
export interface SessionDeps {
  catalog: Catalog;
  domains: DomainDeclaration[];
  gql: GraphQL;
  limits: SessionLimits;
}

interface Outcome {
  fields: P.Field[] | null;
  rows: P.Cell[][];
  tag: string | null;
  notice?: string;
}
interface Prepared {
  route: Route;
  paramTypes: number[];
}
interface Portal {
  stmt: Prepared;
  params: (string | null)[];
  formats: number[];
  outcome?: Outcome;
}

const DEFAULTS: Record<string, string> = { search_path: '"$user", public', 'cdm.epsilon': '', 'cdm.delta': '', 'cdm.error_bars': 'off' };

export class Session {
  private readonly settings = new Map<string, string>();
  private readonly statements = new Map<string, Prepared>();
  private readonly portals = new Map<string, Portal>();
  private failed = false;
  private send: (b: Uint8Array) => void = () => undefined;

  constructor(
    private readonly deps: SessionDeps,
    private readonly token: string,
  ) {}

  /** Handles one message; its answer goes to `send`. Messages of one connection are handled in order. */
  async handle(m: P.Frontend, send: (b: Uint8Array) => void): Promise<'close' | void> {
    this.send = send;
    if (m.kind === 'terminate') return 'close';
    if (m.kind === 'query') return this.simple(m.sql);
    if (m.kind === 'sync') {
      this.failed = false;
      this.portals.delete('');
      return this.send(P.readyForQuery());
    }
    if (m.kind === 'flush' || this.failed) return;
    try {
      await this.extended(m);
    } catch (e) {
      this.failed = true;
      this.send(P.errorResponse(toPgError(e)));
    }
  }

  private async simple(sql: string): Promise<void> {
    // A simple query drops the unnamed statement and portal, as PostgreSQL does.
    this.statements.delete('');
    this.portals.delete('');
    try {
      for (const route of routeAll(sql, this.deps.domains, this.get('search_path'))) {
        const o = await this.run(route, [], []);
        if (o.tag === null) this.send(P.emptyQuery());
        else {
          if (o.fields) this.send(P.rowDescription(o.fields));
          for (const r of o.rows) this.send(P.dataRow(r, o.fields ?? []));
          if (o.notice) this.send(P.noticeResponse(o.notice));
          this.send(P.commandComplete(o.tag));
        }
      }
    } catch (e) {
      this.send(P.errorResponse(toPgError(e)));
    }
    this.send(P.readyForQuery());
  }

  private async extended(m: P.Frontend): Promise<void> {
    switch (m.kind) {
      case 'parse': {
        const routes = routeAll(m.sql, this.deps.domains, this.get('search_path'));
        if (routes.length > 1) throw new WireError('42601', 'cannot insert multiple commands into a prepared statement');
        this.statements.set(m.name, { route: routes[0]!, paramTypes: m.paramTypes });
        return this.send(P.parseComplete());
      }
      case 'bind': {
        const stmt = this.statement(m.statement);
        const params = m.params.map((v, i) => P.paramText(v, P.formatOf(m.paramFormats, i), stmt.paramTypes[i] ?? 0));
        this.portals.set(m.portal, { stmt, params, formats: m.resultFormats });
        return this.send(P.bindComplete());
      }
      case 'describe':
        return m.target === 'S' ? this.describeStatement(this.statement(m.name)) : this.describePortal(this.portal(m.name));
      case 'execute': {
        const portal = this.portal(m.portal);
        const o = (portal.outcome ??= await this.run(portal.stmt.route, portal.params, portal.stmt.paramTypes));
        if (o.tag === null) return this.send(P.emptyQuery());
        const formats = effectiveFormats(o.fields ?? [], portal.formats);
        for (const r of o.rows) this.send(P.dataRow(r, o.fields ?? [], formats));
        if (o.notice) this.send(P.noticeResponse(o.notice));
        return this.send(P.commandComplete(o.tag));
      }
      case 'close':
        (m.target === 'S' ? this.statements : this.portals).delete(m.name);
        return this.send(P.closeComplete());
      case 'password':
      case 'other':
        throw new WireError('08P01', `unsupported message in this state (${m.kind === 'other' ? `type ${m.code.charCodeAt(0)}` : 'password'})`);
    }
  }

  private async describeStatement(stmt: Prepared): Promise<void> {
    const r = stmt.route;
    if (r.kind === 'catalog') {
      const d = await this.deps.catalog.describe(r.sql, this.catalogSettings());
      this.send(P.parameterDescription(d.params.map((oid, i) => stmt.paramTypes[i] || oid)));
      return this.send(d.fields.length ? P.rowDescription(d.fields) : P.noData());
    }
    const count = r.kind === 'dataset' ? Math.max(0, ...r.params.map((p) => p.number)) : 0;
    this.send(P.parameterDescription(Array.from({ length: count }, (_, i) => stmt.paramTypes[i] || P.Oid.text)));
    const fields = r.kind === 'dataset' ? describeDataset(r, this.errorBars()) : r.kind === 'show' ? [{ name: r.name, oid: P.Oid.text }] : null;
    this.send(fields ? P.rowDescription(fields) : P.noData());
  }

  private async describePortal(portal: Portal): Promise<void> {
    // The answer is computed here (for a DP query: released and charged) and sent by Execute, so
    // the columns described are exactly those of the release.
    const o = (portal.outcome ??= await this.run(portal.stmt.route, portal.params, portal.stmt.paramTypes));
    this.send(o.fields ? P.rowDescription(o.fields, effectiveFormats(o.fields, portal.formats)) : P.noData());
  }

  private async run(route: Route, params: (string | null)[], paramTypes: number[]): Promise<Outcome> {
    switch (route.kind) {
      case 'empty':
        return { fields: null, rows: [], tag: null };
      case 'noop':
        return { fields: null, rows: [], tag: route.tag };
      case 'set':
        this.settings.set(route.name, checkSetting(route.name, route.value));
        return { fields: null, rows: [], tag: 'SET' };
      case 'reset':
        if (route.name === null) this.settings.clear();
        else this.settings.delete(route.name);
        return { fields: null, rows: [], tag: 'RESET' };
      case 'show':
        return this.show(route.name);
      case 'dataset': {
        const r = await runDataset(route, { values: params, types: paramTypes }, {
          gql: this.deps.gql,
          token: this.token,
          timeoutMs: this.timeoutMs(),
          maxRows: this.deps.limits.maxRows,
          errorBars: this.errorBars(),
          privacy: this.privacy(),
        });
        return { fields: r.fields, rows: r.rows, tag: `SELECT ${r.rows.length}`, notice: r.notice };
      }
      case 'catalog': {
        const r = await this.deps.catalog.query(route.sql, params, paramTypes, this.catalogSettings());
        if (r.rows.length > this.deps.limits.maxRows) throw new WireError('54000', `the answer has ${r.rows.length} rows, over this server's limit of ${this.deps.limits.maxRows}`);
        return { fields: r.fields.length ? r.fields : null, rows: r.rows, tag: r.command };
      }
    }
  }

  private async show(name: string): Promise<Outcome> {
    const value = this.settings.get(name) ?? DEFAULTS[name];
    const fields = [{ name, oid: P.Oid.text }];
    if (value !== undefined) return { fields, rows: [[value]], tag: 'SHOW' };
    if (name.startsWith('cdm.')) throw new WireError('42704', `unrecognized configuration parameter "${name}" (cdm.epsilon, cdm.delta, cdm.error_bars)`);
    if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new WireError('42704', `unrecognized configuration parameter "${name}"`);
    const r = await this.deps.catalog.query(`SHOW ${name}`, [], [], this.catalogSettings());
    return { fields: r.fields, rows: r.rows, tag: 'SHOW' };
  }

  /** What catalog queries see of the session: search_path and the cdm.* settings. */
  private catalogSettings(): Record<string, string> {
    return Object.fromEntries([...this.settings].filter(([k]) => k === 'search_path' || k.startsWith('cdm.')));
  }
  private get(name: string): string {
    return this.settings.get(name) ?? DEFAULTS[name] ?? '';
  }
  private errorBars(): boolean {
    return ['on', 'true', '1', 'yes'].includes(this.get('cdm.error_bars').toLowerCase());
  }
  private privacy() {
    const epsilon = this.get('cdm.epsilon');
    const delta = this.get('cdm.delta');
    if (!epsilon && !delta) return null;
    return { ...(epsilon ? { epsilon: Number(epsilon) } : {}), ...(delta ? { delta: Number(delta) } : {}) };
  }
  /** statement_timeout as PostgreSQL reads it (ms by default; 0 = no timeout), capped by the server's. */
  private timeoutMs(): number {
    const max = this.deps.limits.statementTimeoutMs;
    const v = parseDuration(this.get('statement_timeout'));
    return v === null || v === 0 ? max : Math.min(v, max);
  }
  private statement(name: string): Prepared {
    const s = this.statements.get(name);
    if (!s) throw new WireError('26000', `prepared statement "${name}" does not exist`);
    return s;
  }
  private portal(name: string): Portal {
    const p = this.portals.get(name);
    if (!p) throw new WireError('34000', `portal "${name}" does not exist`);
    return p;
  }
}

function effectiveFormats(fields: P.Field[], asked: number[]): number[] {
  return fields.map((f, i) => (P.formatOf(asked, i) === 1 && P.BINARY_TYPES.has(f.oid) ? 1 : 0));
}

function checkSetting(name: string, value: string): string {
  const bad = (what: string) => new WireError('22023', `invalid value for parameter "${name}": "${value}" (${what})`);
  if (name === 'cdm.epsilon' && !(Number(value) > 0 && Number.isFinite(Number(value)))) throw bad('a positive number');
  if (name === 'cdm.delta' && !(Number(value) >= 0 && Number(value) < 1)) throw bad('a number in [0, 1)');
  if (name === 'cdm.error_bars' && !['on', 'off', 'true', 'false', '1', '0', 'yes', 'no'].includes(value.toLowerCase())) throw bad('on or off');
  if (name === 'statement_timeout' && parseDuration(value) === null) throw bad('a duration such as 5s or 500');
  if (name.startsWith('cdm.') && !(name in DEFAULTS)) throw new WireError('42704', `unrecognized configuration parameter "${name}" (cdm.epsilon, cdm.delta, cdm.error_bars)`);
  return value;
}

function parseDuration(v: string): number | null {
  if (v === '') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$/.exec(v);
  if (!m) return null;
  return Number(m[1]) * ({ ms: 1, s: 1000, min: 60_000, h: 3_600_000 } as Record<string, number>)[m[2] ?? 'ms']!;
}
