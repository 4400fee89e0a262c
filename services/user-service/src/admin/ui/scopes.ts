import { SCOPES, type Scope } from '../../access/scopes';

/** The scopes an API key can be given: the server's own list (src/access/scopes.ts, no imports of its own). */
export const API_KEY_SCOPES = SCOPES;
export type ApiKeyScope = Scope;

/** What each scope lets a key do, shown beside its checkbox. */
export const SCOPE_HINTS: Readonly<Record<ApiKeyScope, string>> = {
  'users:read': 'read users',
  'users:write': 'create, change and delete users',
  'personas:read': 'read personas',
  'personas:write': 'create, change and delete personas',
};
