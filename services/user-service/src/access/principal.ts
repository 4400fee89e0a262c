import type { User } from '../users/user.repository.js';

/** What an API key may do: read or write users, read or write personas. */
export const SCOPES = ['users:read', 'users:write', 'personas:read', 'personas:write'] as const;
export type Scope = (typeof SCOPES)[number];

/** An API key as a request sees it once its secret checked out (never the secret or its hash). */
export interface ApiKeyIdentity {
  id: string;
  name: string;
  scopes: readonly Scope[];
}

/**
 * Who is calling: nobody, a signed-in user (through one of their sessions), or a service holding an API key.
 * Set on every request by the access layer (access/authenticate.ts) before the policy (access/policy.ts) runs.
 */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; user: User; sessionId: string }
  | { kind: 'api_key'; apiKey: ApiKeyIdentity };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; resolved before any handler runs. */
    principal: Principal;
  }
}
