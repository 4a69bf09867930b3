import { useMemo, useState } from 'react';
import { href } from '../lib/router.js';
import { searchCatalog } from '../lib/search.js';
import { useSession } from '../session.js';

export function CatalogPage() {
  const { mesh } = useSession();
  const [q, setQ] = useState('');
  const hits = useMemo(() => searchCatalog(mesh.domains, q), [mesh, q]);
  return (
    <section>
      <h1>Catalog</h1>
      <p>
        {mesh.domains.length} domains, {mesh.domains.reduce((n, d) => n + d.datasets.length, 0)} datasets. Sensitive datasets answer only with differential privacy.
      </p>
      <label className="search">
        <span>Search domains, datasets and columns</span>
        <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="e.g. age, income, USD, visits" />
      </label>
      <p role="status" className="muted">
        {hits.length} {hits.length === 1 ? 'result' : 'results'}
      </p>
      <ul className="cards" aria-label="Datasets">
        {hits.map((h) => (
          <li key={`${h.domain.name}/${h.dataset?.field ?? ''}`} className="card">
            <div className="card-head">
              <span className={`badge ${h.domain.info.sensitivity}`}>{h.domain.info.sensitivity}</span>
              <span className="muted">
                {h.domain.info.title} ({h.domain.name}) · {h.domain.info.owner}
              </span>
            </div>
            {h.dataset ? (
              <>
                <h2>
                  <a href={href('dataset', h.domain.name, h.dataset.field)}>{h.dataset.info.title}</a>
                </h2>
                <p>{h.dataset.info.description}</p>
                <p className="muted">
                  {h.dataset.info.columns.length} columns · privacy unit <code>{h.dataset.info.privacyUnit}</code>
                </p>
                {h.columns.length > 0 && (
                  <p className="matched">
                    Matching columns:{' '}
                    {h.columns.map((c) => (
                      <code key={c}>{c}</code>
                    ))}
                  </p>
                )}
              </>
            ) : (
              <p>{h.domain.info.description}</p>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
