import { useState } from 'react';
import { syntheticModels, syntheticPreview, type Dataset } from '../api/mesh.js';
import { tokenStore } from '../api/client.js';
import type { SyntheticModel } from '../api/fragments.js';
import { ErrorBox, Field, useAsync } from '../components/ui.js';
import { fmt } from '../lib/format.js';
import { go } from '../lib/router.js';
import { useSession } from '../session.js';
import { useDataset } from './Dataset.js';

/** DP synthetic rows: a fit is charged once per (dataset, epsilon); sampling and CSV export are free. */
export function SyntheticPage({ domain, dataset }: { domain?: string; dataset?: string }) {
  const { mesh } = useSession();
  const candidates = mesh.domains.flatMap((d) => d.datasets.filter((ds) => ds.synthetic));
  const { ds } = useDataset(domain, dataset);
  const chosen = ds ?? candidates[0];
  if (!chosen) return <p>No dataset in this mesh offers synthetic data.</p>;
  return (
    <section>
      <h1>Synthetic data</h1>
      <Field label="Dataset">
        <select value={`${chosen.domain}/${chosen.field}`} onChange={(e) => go('synthetic', ...e.target.value.split('/'))}>
          {candidates.map((s) => (
            <option key={`${s.domain}/${s.field}`} value={`${s.domain}/${s.field}`}>
              {s.domain} / {s.info.title}
            </option>
          ))}
        </select>
      </Field>
      <Synthetic key={`${chosen.domain}/${chosen.field}`} ds={chosen} />
    </section>
  );
}

function Synthetic({ ds }: { ds: Dataset }) {
  const [epsilon, setEpsilon] = useState(1);
  const [rowsWanted, setRows] = useState(20);
  const [seed, setSeed] = useState(0);
  const [state, setState] = useState<{ rows?: Record<string, unknown>[]; model?: SyntheticModel; error?: unknown; busy: boolean }>({ busy: false });
  const models = useAsync(() => syntheticModels(ds.domain), [ds.domain, state.model?.id]);
  const preview = async () => {
    setState({ busy: true });
    try {
      setState({ ...(await syntheticPreview(ds, rowsWanted, seed, epsilon)), busy: false });
    } catch (error) {
      setState({ error, busy: false });
    }
  };
  const download = async () => {
    try {
      const res = await fetch(`/export/${ds.domain}/${ds.field}.csv?rows=${rowsWanted}&seed=${seed}&epsilon=${epsilon}`, { headers: { authorization: `Bearer ${tokenStore.get()}` } });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        throw Object.assign(new Error(body?.errors?.[0]?.message ?? `HTTP ${res.status}`), { code: body?.errors?.[0]?.extensions?.code });
      }
      const url = URL.createObjectURL(await res.blob());
      const a = Object.assign(document.createElement('a'), { href: url, download: `${ds.domain}-${ds.field}-synthetic.csv` });
      a.click();
      URL.revokeObjectURL(url);
    } catch (error) {
      setState((s) => ({ ...s, error }));
    }
  };
  return (
    <>
      <form
        className="panel row"
        onSubmit={(e) => {
          e.preventDefault();
          void preview();
        }}
      >
        <Field label="Epsilon of the fit" hint="Charged once per (dataset, epsilon); reused for free afterwards.">
          <input type="number" min={0.01} step="any" value={epsilon} onChange={(e) => setEpsilon(Number(e.target.value))} />
        </Field>
        <Field label="Rows">
          <input type="number" min={1} max={1000} value={rowsWanted} onChange={(e) => setRows(Number(e.target.value))} />
        </Field>
        <Field label="Seed">
          <input type="number" value={seed} onChange={(e) => setSeed(Number(e.target.value))} />
        </Field>
        <button type="submit" className="primary" disabled={state.busy}>
          {state.busy ? 'Fitting or sampling…' : 'Preview synthetic rows'}
        </button>
        <button type="button" onClick={download}>
          Download CSV
        </button>
      </form>
      <ErrorBox error={state.error} />
      {state.model && (
        <p role="status">
          Model <code>{state.model.id}</code>: {state.model.method}, ε {fmt(state.model.epsilon)}, {state.model.cached ? 'reused at no cost' : 'fitted and charged now'}.
        </p>
      )}
      {state.rows && (
        <div className="table-wrap">
          <table aria-label="Synthetic rows">
            <thead>
              <tr>
                {ds.rowFields.map((f) => (
                  <th key={f} scope="col">
                    {f}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {state.rows.map((r, n) => (
                <tr key={n}>
                  {ds.rowFields.map((f) => (
                    <td key={f}>{String(r[f] ?? '')}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Fitted models of {ds.domain}</h2>
      <ErrorBox error={models.error} />
      {models.data && models.data.length === 0 && <p className="muted">No model fitted yet.</p>}
      {models.data && models.data.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Fitted models">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Dataset</th>
                <th scope="col">Method</th>
                <th scope="col">ε</th>
                <th scope="col">δ</th>
                <th scope="col">Rows (DP estimate)</th>
                <th scope="col">Fitted</th>
              </tr>
            </thead>
            <tbody>
              {models.data.map((m) => (
                <tr key={m.id}>
                  <td>
                    <code>{m.id}</code>
                  </td>
                  <td>{m.dataset}</td>
                  <td>{m.method}</td>
                  <td>{fmt(m.epsilon)}</td>
                  <td>{fmt(m.delta)}</td>
                  <td>{m.estimatedRows}</td>
                  <td>{m.createdAt ? new Date(m.createdAt).toLocaleString() : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
