import * as Plot from '@observablehq/plot';
import { budgets, ledger } from '../api/mesh.js';
import type { BudgetStatus } from '../api/fragments.js';
import { Chart } from '../components/Chart.js';
import { ErrorBox, useAsync } from '../components/ui.js';
import { fmt } from '../lib/format.js';
import { readHistory, type HistoryEntry } from '../lib/history.js';
import { isAdminOf, useSession } from '../session.js';

/** The signed-in principal's budget per sensitive domain, as the accountant proves it. */
export function BudgetsPage() {
  const { mesh, me } = useSession();
  const all = useAsync(() => budgets(mesh.domains), [mesh]);
  const history = readHistory(me.id);
  return (
    <section>
      <h1>Budgets</h1>
      <p>Your privacy budget in each sensitive domain. Spent epsilon is what the accountant proves under tight composition (less than the sum of releases).</p>
      <ErrorBox error={all.error} />
      {all.data &&
        Object.values(all.data).map((b) => <DomainBudget key={b.domain} b={b} history={history.filter((h) => h.domain === b.domain)} />)}
    </section>
  );
}

function DomainBudget({ b, history }: { b: BudgetStatus; history: HistoryEntry[] }) {
  const { me } = useSession();
  const admin = isAdminOf(me, b.domain);
  const server = useAsync(() => (admin ? ledger(b.domain, { principal: me.id, first: 100 }) : Promise.resolve(null)), [b.domain, admin]);
  const pct = b.epsilon > 0 ? Math.min(100, (b.epsilonSpent / b.epsilon) * 100) : 100;
  const points = [{ at: null as Date | null, spent: 0 }, ...history.map((h) => ({ at: new Date(h.at), spent: h.spentAfter }))].filter((p) => p.at) as { at: Date; spent: number }[];
  return (
    <article className="panel" aria-label={`Budget in ${b.domain}`}>
      <h2>{b.domain}</h2>
      <div className="meter" role="meter" aria-valuemin={0} aria-valuemax={b.epsilon} aria-valuenow={b.epsilonSpent} aria-label={`Epsilon spent in ${b.domain}`}>
        <div style={{ width: `${pct}%` }} />
      </div>
      <dl className="facts">
        <dt>Spent</dt>
        <dd data-testid={`spent-${b.domain}`}>{fmt(b.epsilonSpent, 4)}</dd>
        <dt>Remaining</dt>
        <dd data-testid={`remaining-${b.domain}`}>{fmt(b.epsilonRemaining, 4)}</dd>
        <dt>Cap</dt>
        <dd>
          ε {fmt(b.epsilon)} at δ {fmt(b.delta)}
        </dd>
        <dt>Releases charged</dt>
        <dd>{b.releases}</dd>
      </dl>
      {points.length > 0 && (
        <Chart
          label={`Epsilon spent over time in ${b.domain}`}
          options={{
            height: 180,
            x: { type: 'time', label: null },
            y: { label: 'ε spent', grid: true, domain: [0, Math.max(b.epsilon, ...points.map((p) => p.spent))] },
            marks: [Plot.lineY(points, { x: 'at', y: 'spent', curve: 'step-after', stroke: '#3b6fb6' }), Plot.dot(points, { x: 'at', y: 'spent', fill: '#3b6fb6' }), Plot.ruleY([b.epsilon], { stroke: '#b33', strokeDasharray: '4 3' })],
          }}
        />
      )}
      <h3>Global caps of the domain's datasets</h3>
      <ul>
        {b.global.map((g) => (
          <li key={g.dataset}>
            {g.dataset}: spent {fmt(g.epsilonSpent)} of {fmt(g.epsilon)} (left {fmt(g.epsilonRemaining)})
          </li>
        ))}
      </ul>
      <h3>Your releases from this console</h3>
      {history.length === 0 ? (
        <p className="muted">None yet in this browser.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Query</th>
                <th scope="col">ε asked</th>
                <th scope="col">Cached</th>
                <th scope="col">Spent after</th>
              </tr>
            </thead>
            <tbody>
              {[...history].reverse().map((h) => (
                <tr key={`${h.at}-${h.releaseId}`}>
                  <td>{new Date(h.at).toLocaleString()}</td>
                  <td>
                    <code>{h.summary}</code>
                  </td>
                  <td>{fmt(h.epsilon)}</td>
                  <td>{h.cached ? 'yes (free)' : 'no'}</td>
                  <td>{fmt(h.spentAfter, 4)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {admin && server.data && (
        <>
          <h3>Your charges in the domain's ledger</h3>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Dataset</th>
                  <th scope="col">Aggregate</th>
                  <th scope="col">Mechanism</th>
                  <th scope="col">ε</th>
                  <th scope="col">δ</th>
                </tr>
              </thead>
              <tbody>
                {server.data.map((l) => (
                  <tr key={l.id}>
                    <td>{new Date(l.createdAt).toLocaleString()}</td>
                    <td>{l.dataset}</td>
                    <td>{l.aggregate}</td>
                    <td>{l.mechanism}</td>
                    <td>{fmt(l.epsilon)}</td>
                    <td>{fmt(l.delta)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </article>
  );
}
