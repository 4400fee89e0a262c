import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';
import { EMAIL_MAX_LENGTH } from '../users/user.fields.js';

/** What a token is for: proving an email address, or setting a new password. */
export const ACCOUNT_TOKEN_KINDS = ['verify', 'reset'] as const;
export type AccountTokenKind = (typeof ACCOUNT_TOKEN_KINDS)[number];

/**
 * A row of `account_tokens`: one emailed token (verification or password reset). Only the SHA-256 hex of the
 * token is stored, in a secret column (never read unless named, so never in a response); the token itself
 * exists only in the mail. `used_at` is set when the token is spent, or voided (a newer token of its kind, a
 * password change): either way it never works again.
 */
export interface AccountTokenRow {
  id: string;
  user_id: string;
  kind: AccountTokenKind;
  token_hash: string;
  /** The address the token was sent to: a verify token proves it, a reset token is void once it changed. */
  email: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export const accountTokensTable = defineTable<AccountTokenRow, 'id' | 'used_at', 'token_hash'>({
  name: 'account_tokens',
  primaryKey: 'id',
  columns: {
    id: 'string',
    user_id: 'string',
    kind: 'string',
    token_hash: 'string',
    email: 'string',
    created_at: 'timestamp',
    expires_at: 'timestamp',
    used_at: 'timestamp?',
  },
  generateId: uuidv7,
  defaults: { used_at: null },
  unique: { uq_account_tokens_token_hash: ['token_hash'] },
  // Never returned unasked; only the lookup of a presented token names it (an equality match on the hash).
  secret: ['token_hash'],
  // The declared schema (migrate new --autogenerate, migrate check): what the migrations produce.
  schema: {
    columns: {
      id: types.uuid,
      user_id: { type: types.uuid, references: { table: 'users', column: 'id', onDelete: 'cascade' } },
      kind: types.key(16),
      token_hash: types.key(64),
      email: types.string(EMAIL_MAX_LENGTH),
      created_at: types.timestamp,
      expires_at: types.timestamp,
      used_at: types.timestamp,
    },
    indexes: {
      // A user's tokens of one kind, newest first: the per-address hourly count, voiding the older ones; also
      // serves the foreign key (and replaces the index InnoDB would otherwise add under its own name).
      ix_account_tokens_user_id_kind_created_at: { columns: ['user_id', 'kind', 'created_at'] },
    },
  },
});
