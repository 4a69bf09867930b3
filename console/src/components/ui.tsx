import { useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api/client.js';

/** Small shared pieces: error with its code, confirm dialog, copyable code, async state. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="error" role="alert">
      <strong className="code">{code}</strong> {message}
    </div>
  );
}

export function CodeBlock({ title, code }: { title: string; code: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(code);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      /* clipboard may be denied: the text stays selectable */
    }
  };
  return (
    <section className="code-block" aria-label={title}>
      <div className="code-head">
        <h3>{title}</h3>
        <button type="button" onClick={copy}>{copied ? 'Copied' : `Copy ${title}`}</button>
      </div>
      <pre tabIndex={0}>{code}</pre>
    </section>
  );
}

/** A native modal dialog: focus trapped, Escape cancels. Resolves with the user's choice. */
export function useConfirm(): [ReactNode, (message: string) => Promise<boolean>] {
  const ref = useRef<HTMLDialogElement>(null);
  const [message, setMessage] = useState('');
  const resolver = useRef<(ok: boolean) => void>(() => undefined);
  const close = (ok: boolean) => {
    ref.current?.close();
    resolver.current(ok);
  };
  const node = (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={() => resolver.current(false)}>
      <h2 id="confirm-title">Please confirm</h2>
      <p>{message}</p>
      <div className="row">
        <button type="button" onClick={() => close(false)}>Cancel</button>
        <button type="button" className="primary" autoFocus onClick={() => close(true)}>Confirm</button>
      </div>
    </dialog>
  );
  const ask = (m: string) =>
    new Promise<boolean>((resolve) => {
      setMessage(m);
      resolver.current = resolve;
      ref.current?.showModal();
    });
  return [node, ask];
}

/** Loads once per key; returns data, error, loading and a reload. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): { data?: T; error?: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      {hint && <small>{hint}</small>}
    </label>
  );
}
