import type { User } from '../users/user.repository.js';
import type { Scope } from './scopes.js';

// The scopes live in a module without imports, which the admin console's bundle shares (src/admin/ui).
export { SCOPES, type Scope } from './scopes.js';

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
