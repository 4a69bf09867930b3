import { useEffect, useMemo, useState } from 'react';
import * as Plot from '@observablehq/plot';
import { budget, dpSql, estimate, needsColumn, queryDocument, run, AGGREGATES, type Aggregate, type Answer, type Dataset, type Filter, type Privacy, type QuerySpec } from '../api/mesh.js';
import type { ColumnInfo, CostEstimate } from '../api/fragments.js';
import { Chart, intervalChart } from '../components/Chart.js';
import { CodeBlock, ErrorBox, Field } from '../components/ui.js';
import { eps, fmt } from '../lib/format.js';
import { appendHistory } from '../lib/history.js';
import { go, href } from '../lib/router.js';
import { useSession } from '../session.js';
import { useDataset } from './Dataset.js';

const AGG_LABEL: Record<Aggregate, string> = {
  count: 'Count rows',
  countDistinct: 'Count distinct privacy units',
  sum: 'Sum',
  mean: 'Mean',
  variance: 'Variance',
  stddev: 'Standard deviation',
  quantile: 'Quantile',
  histogram: 'Histogram (grouped counts)',
};

export function QueryPage({ domain, dataset }: { domain?: string; dataset?: string }) {
  const { mesh } = useSession();
  const sensitive = mesh.domains.filter((d) => d.sensitive).flatMap((d) => d.datasets.filter((ds) => !ds.open));
  const { ds } = useDataset(domain, dataset);
  const chosen = ds ?? sensitive[0];
  if (!chosen) return <p>No sensitive dataset in this mesh.</p>;
  return (
    <section>
      <h1>Query builder</h1>
      <Field label="Dataset">
        <select value={`${chosen.domain}/${chosen.field}`} onChange={(e) => go('query', ...e.target.value.split('/'))}>
          {sensitive.map((s) => (
            <option key={`${s.domain}/${s.field}`} value={`${s.domain}/${s.field}`}>
              {s.domain} / {s.info.title}
            </option>
          ))}
        </select>
      </Field>
      <Builder key={`${chosen.domain}/${chosen.field}`} ds={chosen} />
    </section>
  );
}

function Builder({ ds }: { ds: Dataset }) {
  const { me } = useSession();
  const cols = ds.info.columns;
  const [aggregate, setAggregate] = useState<Aggregate>('count');
  const [column, setColumn] = useState(ds.numericColumns[0] ?? '');
  const [q, setQ] = useState(0.5);
  const [by, setBy] = useState<string[]>(ds.categoricalColumns.slice(0, 1));
  const [filters, setFilters] = useState<Filter[]>([]);
  const [mode, setMode] = useState<'epsilon' | 'accuracy'>('epsilon');
  const [epsilon, setEpsilon] = useState(0.5);
  const [within, setWithin] = useState(100);
  const [confidence, setConfidence] = useState(0.95);

  const privacy: Privacy = mode === 'epsilon' ? { mode, epsilon } : { mode, within, confidence };
  const spec: QuerySpec = useMemo(
    () => ({ aggregate, column: needsColumn(aggregate) ? column : undefined, q: aggregate === 'quantile' ? q : undefined, by: aggregate === 'histogram' ? by : undefined, filters, privacy }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [aggregate, column, q, by, filters, mode, epsilon, within, confidence],
  );

  const [cost, setCost] = useState<{ estimate?: CostEstimate; error?: unknown; loading: boolean }>({ loading: true });
  useEffect(() => {
    let live = true;
    setCost((c) => ({ ...c, loading: true }));
    const t = setTimeout(() => {
      estimate(ds, spec).then(
        (e) => live && setCost({ estimate: e, loading: false }),
        (error) => live && setCost({ error, loading: false }),
      );
    }, 250);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [ds, spec]);

  const [result, setResult] = useState<{ answer?: Answer; error?: unknown; spec?: QuerySpec; running: boolean }>({ running: false });
  const execute = async () => {
    setResult({ running: true });
    try {
      const answer = await run(ds, spec);
      setResult({ answer, spec, running: false });
      const b = await budget(ds.domain);
      const first = answer.kind === 'scalar' ? answer.value : answer.buckets[0]?.count;
      appendHistory(me.id, {
        at: new Date().toISOString(),
        domain: ds.domain,
        dataset: ds.field,
        aggregate: spec.aggregate,
        summary: dpSql(ds, spec).replace(/\n/g, ' '),
        epsilon: first?.epsilon ?? 0,
        cached: first?.cached ?? false,
        releaseId: first?.releaseId ?? '',
        spentAfter: b.epsilonSpent,
        remainingAfter: b.epsilonRemaining,
      });
      setCost((c) => ({ ...c }));
    } catch (error) {
      setResult({ error, running: false });
    }
  };

  const valid = (!needsColumn(aggregate) || column) && (aggregate !== 'histogram' || (by.length >= 1 && by.length <= 3));
  return (
    <div className="builder">
      <form
        className="panel"
        aria-label="Query"
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) void execute();
        }}
      >
        <Field label="Aggregate">
          <select value={aggregate} onChange={(e) => setAggregate(e.target.value as Aggregate)}>
            {AGGREGATES.filter((a) => (needsColumn(a) ? ds.numericColumns.length > 0 : a === 'histogram' ? ds.categoricalColumns.length > 0 : true)).map((a) => (
              <option key={a} value={a}>
                {AGG_LABEL[a]}
              </option>
            ))}
          </select>
        </Field>
        {needsColumn(aggregate) && (
          <Field label="Column" hint={describe(cols.find((c) => c.name === column))}>
            <select value={column} onChange={(e) => setColumn(e.target.value)}>
              {ds.numericColumns.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </Field>
        )}
        {aggregate === 'quantile' && (
          <Field label="Quantile (0-1)">
            <input type="number" min={0.0001} max={0.9999} step="any" value={q} onChange={(e) => setQ(Number(e.target.value))} />
          </Field>
        )}
        {aggregate === 'histogram' && (
          <fieldset>
            <legend>Group by (1 to 3 columns)</legend>
            <div className="checks">
              {ds.categoricalColumns.map((c) => (
                <label key={c}>
                  <input type="checkbox" checked={by.includes(c)} onChange={(e) => setBy((b) => (e.target.checked ? [...b, c] : b.filter((x) => x !== c)))} /> {c}
                </label>
              ))}
            </div>
          </fieldset>
        )}
        <Filters ds={ds} filters={filters} setFilters={setFilters} />
        <fieldset>
          <legend>Privacy</legend>
          <div className="checks">
            <label>
              <input type="radio" name="mode" checked={mode === 'epsilon'} onChange={() => setMode('epsilon')} /> By epsilon
            </label>
            <label>
              <input type="radio" name="mode" checked={mode === 'accuracy'} onChange={() => setMode('accuracy')} /> By accuracy
            </label>
          </div>
          {mode === 'epsilon' ? (
            <Field label="Epsilon">
              <input type="number" min={0.001} step="any" value={epsilon} onChange={(e) => setEpsilon(Number(e.target.value))} />
            </Field>
          ) : (
            <div className="row">
              <Field label="Within ±">
                <input type="number" min={0} step="any" value={within} onChange={(e) => setWithin(Number(e.target.value))} />
              </Field>
              <Field label="Confidence">
                <input type="number" min={0.5} max={0.9999} step="any" value={confidence} onChange={(e) => setConfidence(Number(e.target.value))} />
              </Field>
            </div>
          )}
        </fieldset>
        <CostPreview cost={cost} />
        <button type="submit" className="primary" disabled={!valid || result.running || cost.estimate?.fitsBudget === false}>
          {result.running ? 'Running…' : 'Run query'}
        </button>
      </form>
      <div className="output">
        <ErrorBox error={result.error} />
        {result.answer && result.spec && <AnswerView answer={result.answer} spec={result.spec} ds={ds} />}
        <CodeBlock title="GraphQL" code={queryDocument(ds, spec)} />
        <CodeBlock title="DP SQL" code={dpSql(ds, spec)} />
        <p className="muted">
          Run the DP SQL with <code>{`${ds.domain} { sql(query: "…", privacy: { epsilon: … }) { … } }`}</code> or in the <a href={href('playground')}>playground</a>.
        </p>
      </div>
    </div>
  );
}

function describe(c?: ColumnInfo) {
  if (!c) return undefined;
  return [c.description, c.unit && `unit ${c.unit}`, c.lowerBound != null && `bounds [${c.lowerBound}, ${c.upperBound}]`].filter(Boolean).join(' · ');
}

function Filters({ ds, filters, setFilters }: { ds: Dataset; filters: Filter[]; setFilters: (f: Filter[]) => void }) {
  const usable = ds.info.columns.filter((c) => !c.privacyUnit && c.type !== 'id');
  const update = (i: number, f: Partial<Filter>) => setFilters(filters.map((x, n) => (n === i ? { ...x, ...f } : x)));
  const add = () => {
    const c = usable[0]!;
    setFilters([...filters, defaultFilter(c)]);
  };
  return (
    <fieldset>
      <legend>Filters (all must hold)</legend>
      {filters.map((f, i) => {
        const c = usable.find((x) => x.name === f.column)!;
        const numeric = c.type === 'integer' || c.type === 'float';
        return (
          <div className="filter" key={i} role="group" aria-label={`Filter ${i + 1}`}>
            <label>
              <span className="sr-only">Filter {i + 1} column</span>
              <select value={f.column} onChange={(e) => setFilters(filters.map((x, n) => (n === i ? defaultFilter(usable.find((u) => u.name === e.target.value)!) : x)))}>
                {usable.map((u) => (
                  <option key={u.name}>{u.name}</option>
                ))}
              </select>
            </label>
            <label>
              <span className="sr-only">Filter {i + 1} operator</span>
              <select value={f.op} onChange={(e) => update(i, { op: e.target.value as Filter['op'] })}>
                <option value="eq">=</option>
                {numeric && <option value="gte">≥</option>}
                {numeric && <option value="lte">≤</option>}
              </select>
            </label>
            <label>
              <span className="sr-only">Filter {i + 1} value</span>
              {c.categories ? (
                <select value={String(f.value)} onChange={(e) => update(i, { value: e.target.value })}>
                  {c.categories.map((v) => (
                    <option key={v}>{v}</option>
                  ))}
                </select>
              ) : numeric ? (
                <input type="number" min={c.lowerBound ?? undefined} max={c.upperBound ?? undefined} step={c.type === 'integer' ? 1 : 'any'} value={Number(f.value)} onChange={(e) => update(i, { value: Number(e.target.value) })} />
              ) : (
                <input type="text" value={String(f.value)} onChange={(e) => update(i, { value: e.target.value })} />
              )}
            </label>
            <button type="button" aria-label={`Remove filter ${i + 1}`} onClick={() => setFilters(filters.filter((_, n) => n !== i))}>
              Remove
            </button>
          </div>
        );
      })}
      <button type="button" onClick={add} disabled={usable.length === 0}>
        Add filter
      </button>
    </fieldset>
  );
}
function defaultFilter(c: ColumnInfo): Filter {
  if (c.categories?.length) return { column: c.name, op: 'eq', value: c.categories[0]! };
  if (c.type === 'integer' || c.type === 'float') return { column: c.name, op: 'gte', value: c.lowerBound ?? 0 };
  return { column: c.name, op: 'eq', value: '' };
}

function CostPreview({ cost }: { cost: { estimate?: CostEstimate; error?: unknown; loading: boolean } }) {
  const e = cost.estimate;
  return (
    <section className="cost" aria-label="Cost preview" aria-busy={cost.loading}>
      <h2>Cost preview</h2>
      {cost.error ? (
        <ErrorBox error={cost.error} />
      ) : e ? (
        <>
          <dl className="facts">
            <dt>Epsilon charged</dt>
            <dd data-testid="cost-epsilon">{fmt(e.epsilonCharged, 4)}</dd>
            <dt>Expected error</dt>
            <dd data-testid="cost-error">{e.halfWidth95 != null ? `± ${fmt(e.halfWidth95)} (95%), standard error ${fmt(e.standardError)}` : 'depends on the data (see note)'}</dd>
            <dt>Remaining budget after</dt>
            <dd data-testid="cost-remaining">{fmt(e.remainingAfter, 4)}</dd>
            <dt>Mechanism</dt>
            <dd>
              {e.mechanism}, {e.measurements} measurement{e.measurements === 1 ? '' : 's'}, ε {fmt(e.epsilon)} δ {fmt(e.delta)}
            </dd>
          </dl>
          {!e.fitsBudget && (
            <p className="error" role="alert">
              This query does not fit your remaining budget.
            </p>
          )}
          <p className="muted">{e.note}</p>
        </>
      ) : (
        <p className="muted">Estimating…</p>
      )}
    </section>
  );
}

function AnswerView({ answer, spec, ds }: { answer: Answer; spec: QuerySpec; ds: Dataset }) {
  const unit = spec.column ? ds.info.columns.find((c) => c.name === spec.column)?.unit ?? '' : 'rows';
  if (answer.kind === 'histogram') {
    const bars = answer.buckets.map((b) => ({ label: b.key.join(' · '), value: b.count.value, low: b.count.confidenceInterval.low, high: b.count.confidenceInterval.high }));
    const first = answer.buckets[0]?.count;
    return (
      <section className="answer" aria-label="Answer">
        <h2>Answer</h2>
        <p>
          {answer.buckets.length} buckets · {first ? `${eps(first.epsilon)} · ${first.mechanism}${first.cached ? ' · cached (free)' : ''}` : ''}
        </p>
        <Chart label="Histogram with 95% confidence intervals" options={intervalChart(bars, 'rows (noisy)')} />
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{spec.by?.join(' · ')}</th>
                <th scope="col">Count</th>
                <th scope="col">95% interval</th>
              </tr>
            </thead>
            <tbody>
              {bars.map((b) => (
                <tr key={b.label}>
                  <th scope="row">{b.label}</th>
                  <td>{fmt(b.value)}</td>
                  <td>
                    [{fmt(b.low)}, {fmt(b.high)}]
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    );
  }
  const v = answer.value;
  const ci = v.confidenceInterval;
  const options: Plot.PlotOptions = {
    height: 90,
    marginLeft: 20,
    x: { label: v.errorScale === 'RANK' ? 'rank error' : unit, grid: true },
    marks: [Plot.ruleY([0], { x1: ci.low, x2: ci.high, stroke: '#3b6fb6', strokeWidth: 6, className: 'interval' }), Plot.dot([v.value], { x: (d: number) => d, y: 0, r: 6, fill: '#111' })],
  };
  return (
    <section className="answer" aria-label="Answer">
      <h2>Answer</h2>
      <p className="big" data-testid="answer-value">
        {fmt(v.value)} <span className="muted">{unit}</span>
      </p>
      <p data-testid="answer-interval">
        {Math.round(ci.confidence * 100)}% confidence interval [{fmt(ci.low)}, {fmt(ci.high)}] · standard error {fmt(v.standardError)}
        {v.errorScale === 'RANK' ? ' (in rank)' : ''}
      </p>
      <Chart label="Answer with its confidence interval" options={options} />
      <p className="muted">
        {eps(v.epsilon)} · δ {fmt(v.delta)} · {v.mechanism} · {v.cached ? 'cached (free)' : 'charged'} · release <code>{v.releaseId}</code>
      </p>
    </section>
  );
}
