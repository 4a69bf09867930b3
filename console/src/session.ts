import { createContext, useContext } from 'react';
import type { Mesh } from './api/mesh.js';

export interface Session {
  me: { id: string; roles?: readonly string[] | null };
  mesh: Mesh;
}
export const SessionContext = createContext<Session | null>(null);
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('not signed in');
  return s;
}
/** Same rule as the mesh (src/auth/tokens.ts isAdminOf); the domain still refuses anyone else. */
export const isAdminOf = (me: Session['me'], domain: string) => !!me.roles?.some((r) => r === 'admin' || r === `admin:${domain}`);
export const adminDomains = (s: Session) => s.mesh.domains.filter((d) => d.sensitive && isAdminOf(s.me, d.name));
