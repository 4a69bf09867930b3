import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a run measures and how hard: the full benchmark or the tiny smoke mode the test uses. */
export type Backend = 'pglite' | 'postgres';
export const BACKEND_NAME: Record<Backend, string> = { pglite: 'PGlite', postgres: 'PostgreSQL' };

export interface BenchConfig {
  tiny: boolean;
  latency: {
    backends: Backend[];
    sizes: number[];
    rawReps: (rows: number) => number;
    dpReps: (rows: number) => number;
    accountantReps: number;
    hopReps: number;
    /** Sizes of the two ratio goals on PostgreSQL: <= 1.0x at `strict`, <= 1.15x at `loose`. */
    goalRows: { strict: number; loose: number };
    /** A larger PostgreSQL point, seeded once and kept across runs (schema cdm_bench_<size>). */
    persistent?: { rows: number; aggregates: ('count' | 'histogram')[] };
  };
  /** trivial: `{ me { id } }` (planned onto census, so census runs too) or, in tiny mode, health's catalog. */
  overhead: { backends: Backend[]; rows: number; connections: number; seconds: number; rounds: number; warmupSeconds: number; sequentialRequests: number; trivial: 'me' | 'healthInfo' };
  /** `replicated`: levels whose clients are split over several DomainDatabase instances (replicas) on one schema. */
  accountant: { clients: number[]; replicated: { clients: number; replicas: number }[]; seconds: number; maxConnections: number; epsilonPerCharge: number; roomPerClient: number };
  memory: { sizes: Record<Backend, number[]> };
  accuracy: { reps: number; epsilons: number[]; rows: number; backend: Backend };
  /** Tiny mode starts only health, --no-seed, on section 1's tiny PostgreSQL dataset (no database creation). */
  startup: { tiny?: { rows: number } };
}

export function configFor(tiny: boolean): BenchConfig {
  if (tiny) {
    return {
      tiny,
      // No PGlite in tiny mode: creating a PGlite database (initdb in WebAssembly) alone takes several
      // seconds of CPU, and the harness test must stay well under a minute on a shared machine.
      latency: {
        backends: ['postgres'],
        sizes: [2_000],
        rawReps: () => 3,
        dpReps: () => 3,
        accountantReps: 3,
        hopReps: 3,
        goalRows: { strict: 2_000, loose: 2_000 },
        // Exercises the kept-across-runs path at toy size (schema cdm_bench_3k, seeded by the first tiny run).
        persistent: { rows: 3_000, aggregates: ['count', 'histogram'] },
      },
      overhead: { backends: ['postgres'], rows: 2_000, connections: 32, seconds: 0.5, rounds: 1, warmupSeconds: 0.3, sequentialRequests: 20, trivial: 'healthInfo' },
      accountant: { clients: [1, 4, 16], replicated: [{ clients: 16, replicas: 2 }], seconds: 0.2, maxConnections: 16, epsilonPerCharge: 0.01, roomPerClient: 1 },
      memory: { sizes: { pglite: [], postgres: [2_000, 4_000] } },
      accuracy: { reps: 100, epsilons: [0.1, 1, 10], rows: 2_000, backend: 'postgres' },
      startup: { tiny: { rows: 2_000 } },
    };
  }
  return {
    tiny,
    latency: {
      backends: ['pglite', 'postgres'],
      sizes: [100_000, 1_000_000],
      rawReps: (rows) => (rows >= 5_000_000 ? 5 : rows >= 500_000 ? 7 : 15),
      dpReps: (rows) => (rows >= 5_000_000 ? 3 : rows >= 500_000 ? 5 : 10),
      accountantReps: 30,
      hopReps: 20,
      goalRows: { strict: 1_000_000, loose: 100_000 },
      persistent: { rows: 10_000_000, aggregates: ['count', 'histogram'] },
    },
    overhead: { backends: ['pglite', 'postgres'], rows: 100_000, connections: 32, seconds: 2, rounds: 4, warmupSeconds: 2, sequentialRequests: 100, trivial: 'me' },
    accountant: { clients: [1, 8, 64], replicated: [{ clients: 64, replicas: 2 }], seconds: 3, maxConnections: 16, epsilonPerCharge: 0.01, roomPerClient: 2 },
    memory: { sizes: { pglite: [100_000, 1_000_000], postgres: [100_000, 1_000_000, 5_000_000] } },
    accuracy: { reps: 1_000, epsilons: [0.1, 1, 10], rows: 100_000, backend: 'pglite' },
    startup: {},
  };
}

export interface BenchContext {
  config: BenchConfig;
  /** Unique per run: every PostgreSQL schema this run creates contains it (cleanup drops them). */
  suffix: string;
  secretText: string;
  secret: Uint8Array;
  tmp: string;
  pgUrl: string;
  started: number;
  children: Set<ChildProcess>;
  /** Seeding facts per dataset, for the report. */
  seeds: { backend: Backend; rows: number; seconds: number }[];
  log(msg: string): void;
  nextEpsilon(base?: number): number;
}

export function createContext(config: BenchConfig): BenchContext {
  const id = randomBytes(4).toString('hex');
  const secretText = randomBytes(32).toString('base64url');
  const started = performance.now();
  let k = 0;
  return {
    config,
    suffix: `_bench_${id}`,
    secretText,
    secret: new TextEncoder().encode(secretText),
    tmp: mkdtempSync(join(tmpdir(), `cdm-bench-${id}-`)),
    pgUrl: process.env.CDM_BENCH_PG_URL ?? process.env.CDM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    started,
    children: new Set(),
    seeds: [],
    log(msg) {
      process.stderr.write(`[bench +${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
    },
    // Distinct plans (so no answer is a memoised one): epsilon differs by 1e-6 per request.
    nextEpsilon(base = 0.1) {
      k += 1;
      return Number((base + k * 1e-6).toFixed(7));
    },
  };
}
