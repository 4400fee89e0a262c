import { defineTable } from '@user-service/data';

/**
 * A row of the `session_principals` view (migration 20261124000400): a session with its user, what the access
 * check needs on every authenticated request, in one primary-key read. Read-only: nothing writes through it.
 */
export interface SessionPrincipalRow {
  /** The session id. */
  id: string;
  user_id: string;
  session_revoked_at: string | null;
  session_expires_at: string;
  email: string;
  username: string | null;
  full_name: string | null;
  is_active: boolean;
  is_superuser: boolean;
  is_verified: boolean;
  verified_at: string | null;
  /** The user's. */
  created_at: string;
  updated_at: string;
}

export const sessionPrincipalsView = defineTable<SessionPrincipalRow, never>({
  name: 'session_principals',
  primaryKey: 'id',
  columns: {
    id: 'string',
    user_id: 'string',
    session_revoked_at: 'timestamp?',
    session_expires_at: 'timestamp',
    email: 'string',
    username: 'string?',
    full_name: 'string?',
    is_active: 'boolean',
    is_superuser: 'boolean',
    is_verified: 'boolean',
    verified_at: 'timestamp?',
    created_at: 'timestamp',
    updated_at: 'timestamp',
  },
});
