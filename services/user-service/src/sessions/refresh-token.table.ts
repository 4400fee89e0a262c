import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';

/**
 * One refresh token of a session. Only the SHA-256 of the token is stored (a token carries 256 random bits,
 * so a fast hash is enough: there is nothing to guess). A token is used once: refreshing marks it used and
 * stores its successor, and a used token presented again after the grace window ends the whole session.
 */
export interface RefreshTokenRow {
  id: string;
  session_id: string;
  token_hash: string;
  created_at: string;
  /** Idle expiry: REFRESH_TOKEN_EXPIRE_DAYS after it was issued, never past the session's own end. */
  expires_at: string;
  used_at: string | null;
}

export const refreshTokensTable = defineTable<RefreshTokenRow, 'id' | 'used_at', 'token_hash'>({
  name: 'refresh_tokens',
  primaryKey: 'id',
  columns: {
    id: 'string',
    session_id: 'string',
    token_hash: 'string',
    created_at: 'timestamp',
    expires_at: 'timestamp',
    used_at: 'timestamp?',
  },
  generateId: uuidv7,
  unique: { uq_refresh_tokens_token_hash: ['token_hash'] },
  // Never returned, filtered or paged by; only the refresh lookup names it.
  secret: ['token_hash'],
  schema: {
    columns: {
      id: types.uuid,
      session_id: { type: types.uuid, references: { table: 'sessions', column: 'id', onDelete: 'cascade' } },
      token_hash: types.key(64),
      created_at: types.timestamp,
      expires_at: types.timestamp,
      used_at: types.timestamp,
    },
    indexes: { ix_refresh_tokens_session_id: { columns: ['session_id'] } },
  },
});
