import { useState } from 'react';
import { rows, type Dataset, type Domain } from '../api/mesh.js';
import { ErrorBox, useAsync } from '../components/ui.js';
import { bounds } from '../lib/format.js';
import { href } from '../lib/router.js';
import { useSession } from '../session.js';

export function useDataset(domain?: string, dataset?: string): { d?: Domain; ds?: Dataset } {
  const { mesh } = useSession();
  const d = mesh.domains.find((x) => x.name === domain);
  return { d, ds: d?.datasets.find((x) => x.field === dataset) };
}

export function DatasetPage({ domain, dataset }: { domain?: string; dataset?: string }) {
  const { d, ds } = useDataset(domain, dataset);
  if (!d || !ds) return <p role="alert">No dataset {domain}/{dataset}.</p>;
  const i = ds.info;
  return (
    <section>
      <p className="crumbs">
        <a href={href('catalog')}>Catalog</a> / {d.info.title}
      </p>
      <h1>
        {i.title} <span className={`badge ${i.sensitivity}`}>{i.sensitivity}</span>
      </h1>
      <p>{i.description}</p>
      <dl className="facts">
        <dt>Domain</dt>
        <dd>
          {d.info.title} (<code>{d.name}</code>)
        </dd>
        <dt>Owner</dt>
        <dd>
          {d.info.owner} · {d.info.contact}
        </dd>
        <dt>Privacy unit</dt>
        <dd>
          <code>{i.privacyUnit}</code>
        </dd>
        <dt>Contribution bounds</dt>
        <dd>
          at most {i.maxRowsPerUnit} rows and {i.maxGroupsPerUnit} groups per privacy unit
        </dd>
        <dt>Policy</dt>
        <dd>{d.info.policySummary}</dd>
      </dl>
      {!ds.open && (
        <p className="row">
          <a className="button primary" href={href('query', d.name, ds.field)}>
            Query with differential privacy
          </a>
          {ds.synthetic && (
            <a className="button" href={href('synthetic', d.name, ds.field)}>
              Synthetic data
            </a>
          )}
        </p>
      )}
      <h2>Columns</h2>
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Columns of {i.title}</caption>
          <thead>
            <tr>
              <th scope="col">Column</th>
              <th scope="col">Type</th>
              <th scope="col">Unit</th>
              <th scope="col">Public bounds or categories</th>
              <th scope="col">Description</th>
            </tr>
          </thead>
          <tbody>
            {i.columns.map((c) => (
              <tr key={c.name}>
                <th scope="row">
                  <code>{c.name}</code>
                  {c.privacyUnit && <span className="badge unit">privacy unit</span>}
                </th>
                <td>{c.type}</td>
                <td>{c.unit ?? '—'}</td>
                <td>{bounds(c)}</td>
                <td>{c.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {ds.open && <Rows ds={ds} />}
    </section>
  );
}

function Rows({ ds }: { ds: Dataset }) {
  const PAGE = 10;
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1];
  const page = useAsync(() => rows(ds, PAGE, after), [ds, after]);
  return (
    <section aria-label="Rows">
      <h2>Rows</h2>
      <ErrorBox error={page.error} />
      {page.data && (
        <>
          <p className="muted" role="status">
            Page {cursors.length} · {page.data.totalCount ?? '?'} rows in all
          </p>
          <div className="table-wrap">
            <table>
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
                {page.data.rows.map((r, n) => (
                  <tr key={n}>
                    {ds.rowFields.map((f) => (
                      <td key={f}>{String(r[f] ?? '')}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="row">
            <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
              Previous page
            </button>
            <button type="button" disabled={!page.data.hasNextPage} onClick={() => setCursors((c) => [...c, page.data!.endCursor])}>
              Next page
            </button>
          </div>
        </>
      )}
    </section>
  );
}
