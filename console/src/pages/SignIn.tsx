import { useState, type FormEvent } from 'react';
import { ErrorBox } from '../components/ui.js';

/** Development sign-in: paste a bearer token (`npm run cdm -- token --sub alice --role analyst`). */
export function SignIn({ reason, onSignIn }: { reason: string | null; onSignIn: (token: string) => Promise<void> }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onSignIn(token.trim().replace(/^Bearer\s+/i, ''));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <h1>confidential-mesh console</h1>
      <p>Browse the data mesh, preview what a differentially private query costs, run it and see its error bars.</p>
      {reason && (
        <p className="notice" role="status" data-testid="signout-reason">
          {reason}
        </p>
      )}
      <form onSubmit={submit}>
        <label htmlFor="token">Bearer token</label>
        <textarea id="token" rows={5} value={token} onChange={(e) => setToken(e.target.value)} required spellCheck={false} placeholder="eyJhbGciOi…" />
        <small>
          Mint one with <code>npm run cdm -- token --sub alice --role analyst</code>. It is kept in this tab only (session storage).
        </small>
        <button type="submit" className="primary" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <ErrorBox error={error} />
    </main>
  );
}
