import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateDomain, type DomainDeclaration } from '../../src/domain/declaration.js';
import { buildTrainingPlan, gradientSensitivity, gramSensitivity, GRID, MAX_DIMENSION, MAX_FEATURES, momentSensitivity, NEWTON_STEPS, structuralZero, type TrainingRequest } from '../../src/core/regression.js';
import { cmp } from '../../src/core/predicate.js';
import { domainDataSource } from '../../src/query/datasource.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { dot, ridgeSolve, sigmoid } from '../../src/ml/linalg.js';
import { encodeRow, fitExact, labelOf, predictRow, specOf, type StoredModel } from '../../src/ml/model.js';
import { gradientStatement, sspStatement } from '../../src/ml/sql.js';
import { trainOnData } from '../../src/ml/train.js';
import { targetFor } from '../helpers/plan.js';

/** The regression measurements against exact results: encodings, sums, sensitivities, fits. */
function labDomain(extra: object[] = []): DomainDeclaration {
  return validateDomain({
    name: 'lab',
    title: 'Lab',
    description: 'A small test domain for regression.',
    owner: { team: 'Tests', contact: 'tests@example.org' },
    sensitivity: 'sensitive',
    policy: { defaultBudget: { epsilon: 100, delta: 1e-5 }, globalCap: { epsilon: 1000, delta: 1e-4 }, maxEpsilonPerQuery: 100, defaultEpsilon: 1, defaultDelta: 1e-6, rateLimitPerMinute: 1000 },
    datasets: [
      {
        name: 'people',
        title: 'People',
        table: 'people',
        description: 'Test rows, at most two per person.',
        privacyUnit: 'pid',
        contribution: { maxRowsPerUnit: 2, maxGroupsPerUnit: 1 },
        source: { kind: 'generated', generator: 'none', rows: 1, seed: 1 },
        columns: [
          { name: 'pid', sql: 'pid', type: 'id', description: 'Person id.' },
          { name: 'x1', sql: 'x1', type: 'float', bounds: [0, 10], description: 'A float feature.' },
          { name: 'x2', sql: 'x2', type: 'integer', bounds: [-5, 5], description: 'An integer feature.' },
          { name: 'grp', sql: 'grp', type: 'categorical', categories: ['a', 'b', 'c'], description: 'A categorical feature.' },
          { name: 'y', sql: 'y', type: 'float', bounds: [0, 100], description: 'A numeric target.' },
          { name: 'label', sql: 'label', type: 'categorical', categories: ['no', 'yes'], description: 'A binary target.' },
          { name: 'note', sql: 'note', type: 'text', description: 'Free text.' },
          ...extra,
        ],
      },
    ],
  } as never);
}

/** Deterministic pseudo-random numbers (the data is fixed; only the mechanisms' noise is random). */
function lcg(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe('DP regression: measurements against exact results', () => {
  let db: DomainDatabase;
  const domain = labDomain();
  const ds = domain.datasets[0]!;
  const rows: Record<string, unknown>[] = [];
  const base = (over: Partial<TrainingRequest> = {}): TrainingRequest => ({ domain, dataset: ds, kind: 'linear', target: 'y', features: ['x1', 'x2', 'grp'], privacy: { epsilon: 1, delta: 1e-6 }, ...over });

  before(async () => {
    db = await openDomainDatabase(domain, { dataDir: 'memory://' });
    await db.exec('CREATE TABLE people (pid text, x1 float8, x2 integer, grp text, y float8, label text, note text)');
    const r = lcg(7);
    for (let i = 0; i < 2000; i++) {
      const x1 = Math.round(r() * 1000) / 100 + 0.003;
      const x2 = Math.floor(r() * 11) - 5;
      const grp = ['a', 'b', 'c', 'zzz'][Math.floor(r() * 4)]!;
      const s1 = (2 * x1) / 10 - 1;
      const s2 = x2 / 5;
      const y = Math.min(100, Math.max(0, 50 + 20 * s1 - 10 * s2 + (grp === 'b' ? 8 : grp === 'c' ? -6 : 0) + (r() - 0.5) * 10));
      const label = r() < sigmoid(1.5 * s1 - s2 + (grp === 'b' ? 1 : 0)) ? 'yes' : 'no';
      rows.push({ pid: `p${Math.floor(i / 2)}`, x1: i === 5 ? null : x1, x2, grp: i === 9 ? null : grp, y, label });
    }
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      const params = chunk.flatMap((x) => [x.pid, x.x1, x.x2, x.grp, x.y, x.label]);
      await db.query(`INSERT INTO people (pid, x1, x2, grp, y, label) VALUES ${chunk.map((_, k) => `(${[1, 2, 3, 4, 5, 6].map((j) => `$${k * 6 + j}`).join(', ')})`).join(', ')}`, params);
    }
    // Outliers that must clamp, never fail: NaN, +-Infinity and far out of bounds.
    await db.query(`INSERT INTO people (pid, x1, x2, grp, y, label) VALUES ('o1', 'NaN', 99, 'a', 'Infinity', 'yes'), ('o2', '-Infinity', -99, 'c', -5, 'no')`);
    rows.push({ pid: 'o1', x1: NaN, x2: 99, grp: 'a', y: Infinity, label: 'yes' }, { pid: 'o2', x1: -Infinity, x2: -99, grp: 'c', y: -5, label: 'no' });
  });
  after(async () => db?.close());

  /** Non-finite values as the SQL clamps them (NaN above every number), for the in-memory fits. */
  const clampedForJs = (r: Record<string, unknown>) => ({ ...r, x1: Number.isNaN(r.x1) ? 10 : r.x1 === -Infinity ? 0 : r.x1, y: r.y === Infinity ? 100 : r.y });

  /** z as the SQL encodes it, computed independently in JS (NaN clamps to the upper bound, as in PostgreSQL). */
  function zOf(row: Record<string, unknown>, kind: 'linear' | 'logistic'): Map<number, number> {
    const s = (v: unknown, lo: number, hi: number) => {
      if (v == null) return 0;
      const n = Number.isNaN(v) ? hi : Math.min(hi, Math.max(lo, v as number));
      return Math.round((2 * (n - lo) / (hi - lo) - 1) * GRID);
    };
    const z = new Map<number, number>([[0, GRID], [1, s(row.x1, 0, 10)], [2, s(row.x2, -5, 5)]]);
    const pos = ['a', 'b', 'c'].indexOf(row.grp as string);
    if (pos > 0) z.set(2 + pos, GRID);
    z.set(5, kind === 'linear' ? s(row.y, 0, 100) : row.label === 'yes' ? GRID : -GRID);
    return z;
  }

  test('the SSP statement returns the exact integer sums of z z^T, outliers clamped', async () => {
    const plan = buildTrainingPlan(base());
    assert.equal(plan.encoding.p, 5);
    assert.deepEqual(plan.encoding.names, ['(intercept)', 'x1', 'x2', 'grp=b', 'grp=c']);
    const stmt = sspStatement(plan, targetFor(db));
    const got = new Map((await db.query<{ i: number; j: number; s: string }>(stmt.sql, stmt.params)).map((r) => [`${r.i},${r.j}`, BigInt(r.s)]));
    const want = new Map<string, bigint>();
    for (const row of rows) {
      const z = zOf(row, 'linear');
      for (const [i, a] of z) for (const [j, b] of z) if (i <= j && a !== 0 && b !== 0) want.set(`${i},${j}`, (want.get(`${i},${j}`) ?? 0n) + BigInt(a * b));
    }
    assert.deepEqual(new Map([...got].filter(([, v]) => v !== 0n)), new Map([...want].filter(([, v]) => v !== 0n)));
  });

  test('the gradient statement returns the sums of round(r x) at the given coefficients', async () => {
    const plan = buildTrainingPlan(base({ kind: 'logistic', target: 'label', positiveClass: 'yes', method: 'sspNewton' }));
    const theta = [0.3, 1.2, -0.7, 0.5, -0.2];
    const stmt = gradientStatement(plan, targetFor(db), theta);
    const got = new Map((await db.query<{ i: number; s: string }>(stmt.sql, stmt.params)).map((r) => [r.i, Number(r.s)]));
    const want = new Array<number>(5).fill(0);
    for (const row of rows) {
      const z = zOf(row, 'logistic');
      const x = [0, 1, 2, 3, 4].map((i) => z.get(i) ?? 0);
      const r = sigmoid(dot(theta, x) / GRID) - (row.label === 'yes' ? 1 : 0);
      x.forEach((v, i) => (want[i]! += Math.round(r * v)));
    }
    // Float rounding (exp in PostgreSQL vs JS) may flip a tie: a handful of units in 2,000 rows at most.
    want.forEach((w, i) => assert.ok(Math.abs((got.get(i) ?? 0) - w) <= 3, `entry ${i}: ${got.get(i)} vs ${w}`));
  });

  test('sensitivities: the proven per-row bounds hold on random and extreme rows, and are tight', () => {
    const r = lcg(11);
    for (let d = 1; d <= 12; d++) {
      const gram = gramSensitivity(d, 1);
      const moments = momentSensitivity(d, 1, true);
      const grad = gradientSensitivity(d, 1);
      for (let t = 0; t < 300; t++) {
        const q = () => (t === 0 ? GRID : Math.round((2 * r() - 1) * GRID));
        const x = Array.from({ length: d }, q);
        const y = q();
        let l2 = 0;
        let l1 = 0;
        for (let i = 0; i < d; i++) for (let j = i; j < d; j++) ((l2 += (x[i]! * x[j]!) ** 2), (l1 += Math.abs(x[i]! * x[j]!)));
        assert.ok(Math.sqrt(l2) <= gram.l2 && l1 <= gram.l1);
        const m2 = x.reduce((s, v) => s + (v * y) ** 2, 0) + y ** 4;
        const m1 = x.reduce((s, v) => s + Math.abs(v * y), 0) + y * y;
        assert.ok(Math.sqrt(m2) <= moments.l2 && m1 <= moments.l1);
        if (t === 0) assert.ok(gram.l2 - Math.sqrt(l2) < 1 && moments.l2 - Math.sqrt(m2) < 1, 'tight at |x_i| = |y| = Q');
        const res = 2 * r() - 1;
        const g = x.map((v) => Math.round(res * v));
        assert.ok(Math.sqrt(g.reduce((s, v) => s + v * v, 0)) <= grad.l2);
      }
    }
    // The unit bound multiplies: two rows per person; d = 3 features + intercept.
    const plan = buildTrainingPlan(base());
    assert.equal(plan.rowsPerUnit, 2);
    assert.equal(plan.measurements[0]!.sensitivity.l2, Math.ceil(2 * GRID * GRID * Math.sqrt(10)));
    assert.equal(plan.measurements[1]!.sensitivity.l2, Math.ceil(2 * GRID * GRID * Math.sqrt(5)));
    // Two levels of grp never co-occur: their product is not measured.
    assert.equal(plan.encoding.names[3], 'grp=b');
    assert.ok(structuralZero(plan.encoding, 3, 4) && !structuralZero(plan.encoding, 3, 3) && !structuralZero(plan.encoding, 1, 3));
  });

  test('at a large epsilon the DP linear fit matches the exact fit on the same rows', async () => {
    const plan = buildTrainingPlan(base({ privacy: { epsilon: 50, delta: 1e-6 }, l2: 0 }));
    const dp = await trainOnData(plan, domainDataSource(db));
    const spec = specOf('people', 'linear', plan.encoding);
    const exact = fitExact(spec, rows.map(clampedForJs), 0);
    dp.coefficients.forEach((c, i) => assert.ok(Math.abs(c - exact.coefficients[i]!) < 0.02, `${plan.encoding.names[i]}: ${c} vs ${exact.coefficients[i]}`));
    assert.ok(Math.abs(dp.estimatedRows - 2002) < 20);
    // True model: y = 50 + 20 s1 - 10 s2 + 8 [b] - 6 [c] + noise, on y scaled by 50 around 50.
    assert.ok(Math.abs(exact.coefficients[1]! - 0.4) < 0.02 && Math.abs(exact.coefficients[2]! + 0.2) < 0.02);
    assert.ok(dp.estimatedR2! > 0.8 && dp.estimatedR2! <= 1);
  });

  test('Newton steps on noisy gradients improve the logistic loss over the quadratic approximation', async () => {
    const loss = (theta: number[], spec: ReturnType<typeof specOf>) =>
      rows.reduce((s, r) => {
        const y = labelOf(spec, r)!;
        const q = sigmoid(dot(theta, encodeRow(spec, r)));
        return s - (y ? Math.log(q) : Math.log(1 - q));
      }, 0) / rows.length;
    const req = base({ kind: 'logistic', target: 'label', positiveClass: 'yes', privacy: { epsilon: 50, delta: 1e-6 } });
    const ssp = buildTrainingPlan({ ...req, method: 'ssp' });
    const newton = buildTrainingPlan({ ...req, method: 'sspNewton' });
    assert.equal(newton.measurements.length, 2 + NEWTON_STEPS);
    const spec = specOf('people', 'logistic', ssp.encoding);
    const a = await trainOnData(ssp, domainDataSource(db));
    const b = await trainOnData(newton, domainDataSource(db));
    const exact = fitExact(spec, rows.map(clampedForJs), 1e-4);
    const [la, lb, le] = [loss(a.coefficients, spec), loss(b.coefficients, spec), loss(exact.coefficients, spec)];
    assert.ok(lb < la, `newton ${lb} < quadratic ${la}`);
    assert.ok(lb - le < 0.01, `newton ${lb} within 0.01 of the optimum ${le}`);
  });

  test('bad requests are refused from the declaration alone', () => {
    const refuse = (over: Partial<TrainingRequest>, message: RegExp, d = domain) => assert.throws(() => buildTrainingPlan({ ...base(over), domain: d, dataset: d.datasets[0]! }), (e: any) => e.extensions?.code === 'BAD_USER_INPUT' && message.test(e.message));
    refuse({ features: ['x1', 'nope'] }, /Unknown feature/);
    refuse({ features: ['pid'] }, /Unknown feature/);
    refuse({ features: ['note'] }, /public bounds/);
    refuse({ target: 'label' }, /numeric target/);
    refuse({ features: ['x1', 'y'] }, /cannot also be a feature/);
    refuse({ features: ['x1', 'x1'] }, /repeated/);
    refuse({ features: [] }, /at least one/);
    refuse({ kind: 'logistic', target: 'label', positiveClass: 'maybe' }, /positiveClass/);
    refuse({ kind: 'logistic', target: 'y', threshold: 500 }, /threshold/);
    refuse({ kind: 'logistic', target: 'y', positiveClass: 'yes' }, /positiveClass is for a categorical/);
    refuse({ l2: -1 }, /l2/);
    refuse({ method: 'sspNewton' }, /logistic/);
    refuse({ kind: 'logistic', target: 'label', positiveClass: 'yes', method: 'sspNewton', privacy: { epsilon: 1, mechanism: 'LAPLACE' } }, /Gaussian/);
    refuse({ privacy: { accuracy: { within: 1 } } }, /epsilon/);
    const wide = labDomain(Array.from({ length: MAX_FEATURES + 1 }, (_, i) => ({ name: `f${i}`, sql: `f${i}`, type: 'integer', bounds: [0, 1], description: 'Extra feature.' })));
    refuse({ features: wide.datasets[0]!.columns.filter((c) => c.name.startsWith('f')).map((c) => c.name) }, /At most/, wide);
    const many = labDomain([{ name: 'big', sql: 'big', type: 'categorical', categories: Array.from({ length: MAX_DIMENSION }, (_, i) => `k${i}`), description: 'Many levels.' }]);
    refuse({ features: ['x1', 'big'] }, /encode to/, many);
  });

  test('memo keys: the same request is one key; any change that alters the release is another', () => {
    const k = (over: Partial<TrainingRequest>) => buildTrainingPlan(base(over)).key;
    assert.equal(k({}), k({}));
    assert.equal(k({}), k({ privacy: { epsilon: 1, delta: 1e-6, mechanism: 'GAUSSIAN' } }));
    const others = [k({ features: ['x1', 'grp'] }), k({ privacy: { epsilon: 2, delta: 1e-6 } }), k({ l2: 0.1 }), k({ where: cmp('x2', '>', 0) }), k({ privacy: { epsilon: 1, mechanism: 'LAPLACE' } })];
    assert.equal(new Set([k({}), ...others]).size, others.length + 1);
  });

  test('linear algebra and prediction', () => {
    const A = [[4, 1], [1, 3]];
    const x = ridgeSolve(A, [1, 2], 0);
    assert.ok(Math.abs(x[0]! - 1 / 11) < 1e-12 && Math.abs(x[1]! - 7 / 11) < 1e-12);
    // An indefinite matrix (as noise can make one) still yields a finite answer.
    assert.ok(ridgeSolve([[1, 2], [2, 1]], [1, 1], 0).every(Number.isFinite));
    const plan = buildTrainingPlan(base());
    const model: StoredModel = { ...specOf('people', 'linear', plan.encoding), coefficients: [0.1, 0.5, -0.5, 0.2, 0], method: 'test', source: 'DIRECT', epsilon: 1, delta: 0, estimatedRows: 1, l2: 0 };
    assert.deepEqual(encodeRow(model, { x1: 7.5, x2: 10, grp: 'b' }), [1, 0.5, 1, 1, 0]);
    assert.deepEqual(encodeRow(model, { x1: null, grp: 'a' }), [1, 0, 0, 0, 0]);
    // m = 0.1 + 0.25 - 0.5 + 0.2 = 0.05 on the scaled target: 50 + 0.05 * 50.
    assert.ok(Math.abs(predictRow(model, { x1: 7.5, x2: 10, grp: 'b' }) - 52.5) < 1e-9);
  });
});
