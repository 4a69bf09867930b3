import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { ApiError, onUnauthenticated, tokenStore } from './api/client.js';
import { loadMesh, me } from './api/mesh.js';
import { href, useRoute } from './lib/router.js';
import { AdminPage } from './pages/Admin.js';
import { BudgetsPage } from './pages/Budgets.js';
import { CatalogPage } from './pages/Catalog.js';
import { DatasetPage } from './pages/Dataset.js';
import { QueryPage } from './pages/Query.js';
import { SignIn } from './pages/SignIn.js';
import { SyntheticPage } from './pages/Synthetic.js';
import { adminDomains, SessionContext, type Session } from './session.js';

// GraphiQL and its editor are large: loaded only when the playground is opened.
const Playground = lazy(() => import('./pages/Playground.js'));

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [reason, setReason] = useState<string | null>(null);
  const [restoring, setRestoring] = useState(!!tokenStore.get());

  const signOut = useCallback((why: string | null) => {
    tokenStore.clear();
    setSession(null);
    setReason(why);
  }, []);
  useEffect(() => onUnauthenticated((why) => signOut(`Signed out: ${why}`)), [signOut]);

  const signIn = useCallback(async (token: string) => {
    const who = await me(token);
    tokenStore.set(token);
    const mesh = await loadMesh();
    setReason(null);
    setSession({ me: who, mesh });
  }, []);

  useEffect(() => {
    const token = tokenStore.get();
    if (!token) return;
    signIn(token)
      .catch((e) => signOut(e instanceof ApiError ? `Signed out: ${e.message}` : String(e)))
      .finally(() => setRestoring(false));
  }, [signIn, signOut]);

  if (!session) return restoring ? <p className="loading">Restoring your session…</p> : <SignIn reason={reason} onSignIn={signIn} />;
  return (
    <SessionContext.Provider value={session}>
      <Shell session={session} onSignOut={() => signOut(null)} />
    </SessionContext.Provider>
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const [page = 'catalog', ...rest] = route;
  const admin = adminDomains(session);
  const links: [string, string][] = [
    ['catalog', 'Catalog'],
    ['query', 'Query builder'],
    ['budgets', 'Budgets'],
    ['synthetic', 'Synthetic data'],
    ['playground', 'Playground'],
    ...(admin.length ? ([['admin', 'Admin']] as [string, string][]) : []),
  ];
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header>
        <span className="brand">confidential-mesh</span>
        <nav aria-label="Main">
          {links.map(([id, label]) => (
            <a key={id} href={href(id)} aria-current={page === id || (page === 'dataset' && id === 'catalog') ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div className="who" aria-label="Signed in as">
          <span data-testid="whoami">{session.me.id}</span> <span className="roles">{(session.me.roles ?? []).join(', ') || 'no roles'}</span>
          <button type="button" onClick={onSignOut}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {page === 'catalog' && <CatalogPage />}
        {page === 'dataset' && <DatasetPage domain={rest[0]} dataset={rest[1]} />}
        {page === 'query' && <QueryPage domain={rest[0]} dataset={rest[1]} />}
        {page === 'budgets' && <BudgetsPage />}
        {page === 'synthetic' && <SyntheticPage domain={rest[0]} dataset={rest[1]} />}
        {page === 'playground' && (
          <Suspense fallback={<p className="loading">Loading the playground…</p>}>
            <Playground />
          </Suspense>
        )}
        {page === 'admin' && (admin.length ? <AdminPage domain={rest[0]} /> : <p role="alert">Admin pages are for domain admins only.</p>)}
      </main>
    </div>
  );
}
