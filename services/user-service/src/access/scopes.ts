/**
 * What an API key may do: read or write users, read or write personas. A module without imports: the server
 * (principal.ts, api-key.schemas.ts) and the admin console's bundle (the new-key form) read the same list.
 */
export const SCOPES = ['users:read', 'users:write', 'personas:read', 'personas:write'] as const;
export type Scope = (typeof SCOPES)[number];
