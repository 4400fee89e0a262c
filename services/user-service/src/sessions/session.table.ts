import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';

/**
 * A signed-in session: what a login creates, a refresh extends, and a logout, a password change, a session
 * delete or the end of its life ends. Every access token names its session (`sid`), and the token is honoured
 * only while the session is, so revocation takes effect on the very next request on every process.
 */
export interface SessionRow {
  id: string;
  user_id: string;
  created_at: string;
  updated_at: string;
  /** The last login or refresh through this session. */
  last_used_at: string;
  /** The absolute end (SESSION_MAX_DAYS after the login), however often it is refreshed. */
  expires_at: string;
  revoked_at: string | null;
  /** Why it ended: logout, revoked, password_changed, refresh_reuse... (never a secret). */
  revoked_reason: string | null;
  ip: string | null;
  user_agent: string | null;
}

export const USER_AGENT_MAX_LENGTH = 255;
export const IP_MAX_LENGTH = 45;

export const sessionsTable = defineTable<
  SessionRow,
  'id' | 'created_at' | 'updated_at' | 'revoked_at' | 'revoked_reason'
>({
  name: 'sessions',
  primaryKey: 'id',
  columns: {
    id: 'string',
    user_id: 'string',
    created_at: 'timestamp',
    updated_at: 'timestamp',
    last_used_at: 'timestamp',
    expires_at: 'timestamp',
    revoked_at: 'timestamp?',
    revoked_reason: 'string?',
    ip: 'string?',
    user_agent: 'string?',
  },
  generateId: uuidv7,
  timestamps: { createdAt: 'created_at', updatedAt: 'updated_at' },
  schema: {
    columns: {
      id: types.uuid,
      user_id: { type: types.uuid, references: { table: 'users', column: 'id', onDelete: 'cascade' } },
      created_at: types.timestamp,
      updated_at: types.timestamp,
      last_used_at: types.timestamp,
      expires_at: types.timestamp,
      revoked_at: types.timestamp,
      revoked_reason: types.string(32),
      ip: types.string(IP_MAX_LENGTH),
      user_agent: types.string(USER_AGENT_MAX_LENGTH),
    },
    // A user's sessions, newest first (GET /auth/sessions, logout everywhere); also serves the foreign key.
    indexes: { ix_sessions_user_id_created_at: { columns: ['user_id', 'created_at'] } },
  },
});
