import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { ConnectionState, MessageResponse } from 'pg-gateway';
import { fromNodeSocket } from 'pg-gateway/node';
import type { Verifier } from '../auth/tokens.js';
import { config, configFrom, type Config } from '../config.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import { log } from '../log.js';
import { createCatalog } from './catalog.js';
import { gatewayClient } from './client.js';
import * as P from './protocol.js';
import { Session, type SessionLimits } from './session.js';

/**
 * The PostgreSQL wire protocol in front of the gateway (SPEC: SQL driver). pg-gateway does the
 * framing, the SSLRequest answer (refusal, or TLS when configured) and the startup packet; this
 * module does authentication (password = bearer JWT, verified like every mesh service does) and
 * hands each authenticated connection to a Session.
 */
export interface PgWireOptions {
  port: number;
  host?: string;
  /** The gateway's GraphQL endpoint: every query goes through it with the caller's token. */
  gatewayUrl: string;
  domains: DomainDeclaration[];
  verifier: Verifier;
  tls?: { key: ArrayBuffer; cert: ArrayBuffer };
  limits?: Partial<PgWireLimits>;
}
export interface PgWireLimits extends SessionLimits {
  maxConnectionsPerPrincipal: number;
}
export interface PgWireHandle {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** TLS and limits from the configuration (PGWIRE_* variables, src/config.ts). */
export function pgWireOptionsFromEnv(c: Config = config()): Pick<PgWireOptions, 'tls' | 'limits'> {
  const file = (path: string) => new Uint8Array(readFileSync(path)).buffer;
  const tls = c.PGWIRE_TLS_KEY && c.PGWIRE_TLS_CERT ? { key: file(c.PGWIRE_TLS_KEY), cert: file(c.PGWIRE_TLS_CERT) } : undefined;
  return { tls, limits: { statementTimeoutMs: c.PGWIRE_STATEMENT_TIMEOUT_MS, maxRows: c.PGWIRE_MAX_ROWS, maxConnectionsPerPrincipal: c.PGWIRE_MAX_CONNECTIONS_PER_PRINCIPAL } };
}

const isLoopback = (addr: string | undefined) => !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));

export async function startPgWire(opts: PgWireOptions): Promise<PgWireHandle> {
  const limits = { ...pgWireOptionsFromEnv(configFrom({})).limits!, ...opts.limits } as PgWireLimits;
  // The catalog (an in-memory PGlite) is built while the server already listens: only an
  // authenticated connection needs it, and it waits for it (start-up, issue 17).
  const catalogReady = createCatalog(opts.domains);
  catalogReady.catch((e: unknown) => log.error({ err: e }, 'pgwire: the catalog could not be built'));
  const gql = gatewayClient(opts.gatewayUrl);
  const perPrincipal = new Map<string, number>();
  const sockets = new Set<Socket>();

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    // Answers are many small messages: without this, Nagle's algorithm meets the client's delayed ACK.
    socket.setNoDelay(true);
    let session: Session | undefined;
    let principal: string | undefined;
    // Ends the connection once pg-gateway has written the last chunk (it pulls the next one only then).
    async function* closeAfterWrite(last: Uint8Array = new Uint8Array(0)) {
      yield last;
      socket.end();
    }
    const fatal = (code: string, message: string) => closeAfterWrite(P.errorResponse({ code, message, severity: 'FATAL' }));
    const authenticate = async (password: string, state: ConnectionState): Promise<MessageResponse> => {
      const user = state.clientParams?.user ?? '';
      const token = password.trim();
      if (!token) return fatal('28000', 'a bearer token is required as the password');
      let caller;
      try {
        caller = await opts.verifier(`Bearer ${token}`);
      } catch {
        return fatal('28P01', `password authentication failed for user "${user}": the bearer token is invalid or expired`);
      }
      if (caller.id !== user) return fatal('28000', `the token's subject "${caller.id}" is not the user "${user}"`);
      const catalog = await catalogReady;
      const open = perPrincipal.get(caller.id) ?? 0;
      if (open >= limits.maxConnectionsPerPrincipal) return fatal('53300', `too many connections for principal "${caller.id}" (limit ${limits.maxConnectionsPerPrincipal})`);
      perPrincipal.set(caller.id, open + 1);
      principal = caller.id;
      session = new Session({ catalog, domains: opts.domains, gql, limits }, token);
      return [
        P.authOk(),
        ...Object.entries(startupParameters(catalog.serverVersion, user, state.clientParams?.application_name)).map(([k, v]) => P.parameterStatus(k, v)),
        P.backendKeyData(randomInt(1, 2 ** 31 - 1), randomInt(1, 2 ** 31 - 1)),
        P.readyForQuery(),
      ];
    };
    socket.on('close', () => {
      sockets.delete(socket);
      if (principal) perPrincipal.set(principal, (perPrincipal.get(principal) ?? 1) - 1);
    });
    void fromNodeSocket(socket, {
      tls: opts.tls,
      // pg-gateway sends the cleartext-password request; the password message itself is ours (below).
      auth: { method: 'password', getClearTextPassword: () => { throw new Error('handled in onMessage'); } },
      onMessage: async (data, state): Promise<MessageResponse> => {
        try {
          if (!state.hasStarted) {
            // GSSAPI encryption is not offered: answer 'N' and the client goes on (TLS or plain).
            if (isGssEncRequest(data)) return new Uint8Array([0x4e]);
            // The password is a bearer token: never ask for it in clear text off this machine.
            if (isStartupMessage(data) && !state.tlsInfo && !isLoopback(socket.remoteAddress)) return fatal('28000', 'this server accepts a token as password only over TLS or from loopback; connect with sslmode=require');
            return undefined;
          }
          const m = P.readFrontend(data);
          if (!session) return m.kind === 'password' ? await authenticate(m.password, state) : fatal('08P01', 'expected a password message');
          const out: Uint8Array[] = [];
          if ((await session.handle(m, (b) => out.push(b))) === 'close') return closeAfterWrite();
          // Something must be returned for pg-gateway to consider the message handled.
          return out.length ? Buffer.concat(out) : [new Uint8Array(0)];
        } catch (e) {
          log.error({ err: e }, 'pgwire: unexpected failure');
          return fatal('XX000', 'internal error in the SQL gateway (logged)');
        }
      },
    }).catch((e: unknown) => {
      log.warn({ err: e }, 'pgwire: connection failed');
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `postgresql://${opts.host ?? '127.0.0.1'}:${port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await (await catalogReady.catch(() => undefined))?.close();
    },
  };
}

const int32At = (data: Uint8Array, at: number) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).readInt32BE(at);
const isGssEncRequest = (data: Uint8Array) => data.byteLength === 8 && int32At(data, 4) === 80877104;

/** A StartupMessage (protocol 3.0), as opposed to an SSLRequest or a cancel request. */
function isStartupMessage(data: Uint8Array): boolean {
  return data.byteLength >= 8 && int32At(data, 4) === 196608;
}

function startupParameters(version: string, user: string, app = ''): Record<string, string> {
  return {
    server_version: version,
    server_encoding: 'UTF8',
    client_encoding: 'UTF8',
    DateStyle: 'ISO, MDY',
    IntervalStyle: 'postgres',
    TimeZone: 'UTC',
    integer_datetimes: 'on',
    standard_conforming_strings: 'on',
    is_superuser: 'off',
    session_authorization: user,
    application_name: app,
  };
}
