/**
 * The scopes an API key can be given, as the API accepts them: a copy of SCOPES in
 * services/user-service/src/access/principal.ts (api-key.schemas.ts takes its enum from there). Copied, not
 * imported: that module pulls in server-only types, and the console bundle must stay browser-only. When a
 * scope is added there, add it here; the API's 422 names any scope it does not know.
 */
export const API_KEY_SCOPES = ['users:read', 'users:write', 'personas:read', 'personas:write'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** What each scope lets a key do, shown beside its checkbox. */
export const SCOPE_HINTS: Readonly<Record<ApiKeyScope, string>> = {
  'users:read': 'read users',
  'users:write': 'create, change and delete users',
  'personas:read': 'read personas',
  'personas:write': 'create, change and delete personas',
};
