import { useState, type FormEvent } from 'react';
import { auditLog, budget, budgetOf, grantBudget, ledger, policies, revoke, setBudget, setGlobalCap, setPolicy, type Domain } from '../api/mesh.js';
import type { AuditEntry, BudgetStatus } from '../api/fragments.js';
import { ErrorBox, Field, useAsync, useConfirm } from '../components/ui.js';
import { verifyChain, type ChainCheck } from '../lib/audit.js';
import { fmt } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { adminDomains, useSession } from '../session.js';

/** Domain admin pages: principals and budgets, global caps, policies, audit log. */
export function AdminPage({ domain }: { domain?: string }) {
  const session = useSession();
  const domains = adminDomains(session);
  const d = domains.find((x) => x.name === domain) ?? domains[0]!;
  return (
    <section>
      <h1>Admin: {d.info.title}</h1>
      <nav aria-label="Domains you administer" className="tabs">
        {domains.map((x) => (
          <a key={x.name} href={href('admin', x.name)} aria-current={x.name === d.name ? 'page' : undefined}>
            {x.name}
          </a>
        ))}
      </nav>
      <DomainAdmin key={d.name} d={d} />
    </section>
  );
}

/** Runs an admin action after confirmation and keeps its outcome (or its error code) on screen. */
function useAction(changed: () => void) {
  const [dialog, confirm] = useConfirm();
  const [outcome, setOutcome] = useState<{ ok?: string; error?: unknown }>({});
  const act = async (question: string, fn: () => Promise<string>) => {
    if (!(await confirm(question))) return false;
    try {
      setOutcome({ ok: await fn() });
      changed();
      return true;
    } catch (error) {
      setOutcome({ error });
      return false;
    }
  };
  const view = (
    <>
      {dialog}
      {outcome.ok && (
        <p className="ok" role="status">
          {outcome.ok}
        </p>
      )}
      <ErrorBox error={outcome.error} />
    </>
  );
  return { act, view };
}

/** Every confirmed action bumps the version, so the lists (audit log included) reload. */
interface Props {
  d: Domain;
  version: number;
  changed: () => void;
}
function DomainAdmin({ d }: { d: Domain }) {
  const [version, setVersion] = useState(0);
  const p: Props = { d, version, changed: () => setVersion((v) => v + 1) };
  return (
    <>
      <Principals {...p} />
      <GlobalCaps {...p} />
      <Policies {...p} />
      <Audit {...p} />
    </>
  );
}

function Principals({ d, version, changed }: Props) {
  const known = useAsync(async () => {
    const seen = [...new Set((await ledger(d.name, { first: 500 })).map((l) => l.principal))];
    return Promise.all(seen.map((p) => budgetOf(d.name, p)));
  }, [d.name, version]);
  const [principal, setPrincipal] = useState('');
  const [epsilon, setEpsilon] = useState(10);
  const [delta, setDelta] = useState(1e-6);
  const [grant, setGrant] = useState(1);
  const [looked, setLooked] = useState<{ b?: BudgetStatus; error?: unknown }>({});
  const { act, view } = useAction(changed);
  const refresh = async (p: string) => {
    setLooked({ b: await budgetOf(d.name, p) });
  };
  const lookup = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setLooked({ b: await budgetOf(d.name, principal) });
    } catch (error) {
      setLooked({ error });
    }
  };
  return (
    <article className="panel" aria-label="Principals and budgets">
      <h2>Principals and budgets</h2>
      <ErrorBox error={known.error} />
      {known.data && (
        <div className="table-wrap">
          <table aria-label="Principals">
            <thead>
              <tr>
                <th scope="col">Principal</th>
                <th scope="col">Cap ε</th>
                <th scope="col">Spent</th>
                <th scope="col">Remaining</th>
                <th scope="col">Releases</th>
                <th scope="col"></th>
              </tr>
            </thead>
            <tbody>
              {known.data.map((b) => (
                <tr key={b.principal}>
                  <th scope="row">{b.principal}</th>
                  <td>{fmt(b.epsilon)}</td>
                  <td>{fmt(b.epsilonSpent, 4)}</td>
                  <td>{fmt(b.epsilonRemaining, 4)}</td>
                  <td>{b.releases}</td>
                  <td>
                    <button type="button" onClick={() => (setPrincipal(b.principal), setLooked({ b }))}>
                      Manage {b.principal}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form className="row" onSubmit={lookup}>
        <Field label="Principal (token subject)">
          <input value={principal} onChange={(e) => setPrincipal(e.target.value)} required />
        </Field>
        <button type="submit">Look up</button>
      </form>
      <ErrorBox error={looked.error} />
      {looked.b && (
        <div aria-label={`Budget of ${looked.b.principal}`} className="subpanel">
          <p data-testid="admin-budget">
            <strong>{looked.b.principal}</strong>: cap ε {fmt(looked.b.epsilon)} at δ {fmt(looked.b.delta)}, spent {fmt(looked.b.epsilonSpent, 4)}, remaining {fmt(looked.b.epsilonRemaining, 4)}
          </p>
          <div className="row">
            <Field label="New total epsilon">
              <input type="number" min={0} step="any" value={epsilon} onChange={(e) => setEpsilon(Number(e.target.value))} />
            </Field>
            <Field label="New total delta">
              <input type="number" min={0} step="any" value={delta} onChange={(e) => setDelta(Number(e.target.value))} />
            </Field>
            <button
              type="button"
              onClick={() => act(`Set the budget of ${looked.b!.principal} in ${d.name} to ε ${epsilon}, δ ${delta}?`, async () => (await setBudget(d.name, looked.b!.principal, epsilon, delta), await refresh(looked.b!.principal), `Budget of ${looked.b!.principal} set to ε ${epsilon}.`))}
            >
              Set budget
            </button>
          </div>
          <div className="row">
            <Field label="Epsilon to grant">
              <input type="number" min={0} step="any" value={grant} onChange={(e) => setGrant(Number(e.target.value))} />
            </Field>
            <button type="button" onClick={() => act(`Grant ε ${grant} more to ${looked.b!.principal} in ${d.name}?`, async () => (await grantBudget(d.name, looked.b!.principal, grant), await refresh(looked.b!.principal), `Granted ε ${grant} to ${looked.b!.principal}.`))}>
              Grant budget
            </button>
          </div>
          <div className="row">
            <button type="button" className="danger" onClick={() => act(`Revoke ${looked.b!.principal}'s access to ${d.name}?`, async () => (await revoke(d.name, looked.b!.principal, false), `Access of ${looked.b!.principal} revoked.`))}>
              Revoke access
            </button>
            <button type="button" onClick={() => act(`Restore ${looked.b!.principal}'s access to ${d.name}?`, async () => (await revoke(d.name, looked.b!.principal, true), `Access of ${looked.b!.principal} restored.`))}>
              Restore access
            </button>
          </div>
        </div>
      )}
      {view}
    </article>
  );
}

function GlobalCaps({ d, version, changed }: Props) {
  const mine = useAsync(() => budget(d.name), [d.name, version]);
  const [dataset, setDataset] = useState(d.datasets[0]?.field ?? '');
  const [epsilon, setEpsilon] = useState(50);
  const [delta, setDelta] = useState(1e-5);
  const { act, view } = useAction(changed);
  return (
    <article className="panel" aria-label="Global caps">
      <h2>Global caps per dataset</h2>
      <p className="muted">Across all principals (analysts can collude).</p>
      <ErrorBox error={mine.error} />
      <ul>
        {mine.data?.global.map((g) => (
          <li key={g.dataset}>
            {g.dataset}: cap ε {fmt(g.epsilon)}, spent {fmt(g.epsilonSpent, 4)}, left {fmt(g.epsilonRemaining, 4)}
          </li>
        ))}
      </ul>
      <div className="row">
        <Field label="Dataset">
          <select value={dataset} onChange={(e) => setDataset(e.target.value)}>
            {d.datasets.map((x) => (
              <option key={x.field}>{x.field}</option>
            ))}
          </select>
        </Field>
        <Field label="Cap epsilon">
          <input type="number" min={0} value={epsilon} onChange={(e) => setEpsilon(Number(e.target.value))} />
        </Field>
        <Field label="Cap delta">
          <input type="number" min={0} step="any" value={delta} onChange={(e) => setDelta(Number(e.target.value))} />
        </Field>
        <button type="button" onClick={() => act(`Set the global cap of ${dataset} to ε ${epsilon}, δ ${delta}?`, async () => (await setGlobalCap(d.name, dataset, epsilon, delta), `Global cap of ${dataset} set.`))}>
          Set global cap
        </button>
      </div>
      {view}
    </article>
  );
}

function Policies({ d, version, changed }: Props) {
  const list = useAsync(() => policies(d.name), [d.name, version]);
  const [scope, setScope] = useState('role:analyst');
  const [totalEpsilon, setTotal] = useState('');
  const [maxPerQuery, setMax] = useState('');
  const [rate, setRate] = useState('');
  const [aggregates, setAggregates] = useState('');
  const { act, view } = useAction(changed);
  const num = (s: string) => (s.trim() === '' ? null : Number(s));
  return (
    <article className="panel" aria-label="Policies">
      <h2>Policies</h2>
      <p className="muted">{d.info.policySummary}</p>
      <ErrorBox error={list.error} />
      {list.data && list.data.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Scope</th>
                <th scope="col">Total ε</th>
                <th scope="col">Max ε per query</th>
                <th scope="col">Aggregates</th>
                <th scope="col">Per minute</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((p) => (
                <tr key={p.scope}>
                  <th scope="row">{p.scope}</th>
                  <td>{fmt(p.totalEpsilon)}</td>
                  <td>{fmt(p.maxEpsilonPerQuery)}</td>
                  <td>{p.allowedAggregates?.length ? p.allowedAggregates.join(', ') : 'all'}</td>
                  <td>{p.rateLimitPerMinute ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data?.length === 0 && <p className="muted">No policy set: the domain's defaults apply.</p>}
      <div className="row">
        <Field label="Scope" hint='domain, role:<role> or principal:<id>'>
          <input value={scope} onChange={(e) => setScope(e.target.value)} />
        </Field>
        <Field label="Total epsilon">
          <input inputMode="decimal" value={totalEpsilon} onChange={(e) => setTotal(e.target.value)} />
        </Field>
        <Field label="Max epsilon per query">
          <input inputMode="decimal" value={maxPerQuery} onChange={(e) => setMax(e.target.value)} />
        </Field>
        <Field label="Queries per minute">
          <input inputMode="numeric" value={rate} onChange={(e) => setRate(e.target.value)} />
        </Field>
        <Field label="Allowed aggregates" hint="comma-separated; empty for all">
          <input value={aggregates} onChange={(e) => setAggregates(e.target.value)} />
        </Field>
        <button
          type="button"
          onClick={() =>
            act(`Set the policy of ${scope} in ${d.name}?`, async () => {
              const allowed = aggregates.split(',').map((s) => s.trim()).filter(Boolean);
              await setPolicy(d.name, scope, { totalEpsilon: num(totalEpsilon), maxEpsilonPerQuery: num(maxPerQuery), rateLimitPerMinute: num(rate), allowedAggregates: allowed.length ? allowed : null });
              return `Policy of ${scope} set.`;
            })
          }
        >
          Set policy
        </button>
      </div>
      {view}
    </article>
  );
}

function Audit({ d, version }: Props) {
  const latest = useAsync(() => auditLog(d.name, 50), [d.name, version]);
  const [check, setCheck] = useState<{ result?: ChainCheck; error?: unknown; busy: boolean }>({ busy: false });
  const verify = async () => {
    setCheck({ busy: true });
    try {
      const all: AuditEntry[] = [];
      for (let after: string | undefined; ; ) {
        const page = await auditLog(d.name, 500, after);
        all.push(...page);
        if (page.length < 500) break;
        after = page[page.length - 1]!.seq;
      }
      setCheck({ result: await verifyChain(all.reverse()), busy: false });
    } catch (error) {
      setCheck({ error, busy: false });
    }
  };
  return (
    <article className="panel" aria-label="Audit log">
      <h2>Audit log</h2>
      <div className="row">
        <button type="button" onClick={verify} disabled={check.busy}>
          {check.busy ? 'Verifying…' : 'Verify the hash chain'}
        </button>
        {check.result && (
          <p role="status" className={check.result.ok ? 'ok' : 'error'} data-testid="audit-status">
            {check.result.ok ? `Chain intact: ${check.result.entries} entries verified in your browser.` : `Chain broken at entry ${check.result.brokenAt} (of ${check.result.entries}).`}
          </p>
        )}
      </div>
      <ErrorBox error={check.error ?? latest.error} />
      {latest.data && (
        <div className="table-wrap">
          <table aria-label="Audit entries">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Detail</th>
                <th scope="col">Hash</th>
              </tr>
            </thead>
            <tbody>
              {latest.data.map((e) => (
                <tr key={e.seq}>
                  <td>{e.seq}</td>
                  <td>{new Date(e.at).toLocaleString()}</td>
                  <td>{e.actor}</td>
                  <td>{e.action}</td>
                  <td>
                    <code className="detail">{e.detail}</code>
                  </td>
                  <td>
                    <code title={e.hash}>{e.hash.slice(0, 12)}…</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p>
        <button type="button" onClick={() => (latest.reload(), go('admin', d.name))}>
          Refresh
        </button>
      </p>
    </article>
  );
}
