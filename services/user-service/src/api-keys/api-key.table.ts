import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';

/** Longest key name (trimmed), in the API schema, the service's check and the column. */
export const API_KEY_NAME_MAX_LENGTH = 100;
/** How many leading characters of a secret are kept in clear, to recognise a key in lists (`usk_` + 8). */
export const API_KEY_PREFIX_LENGTH = 12;

/**
 * A row of `api_keys` as the data layer returns it. `key_hash` (SHA-256 hex of the secret) is a secret column:
 * left out of every read unless named, so it never reaches a response. The secret itself is never stored.
 */
export interface ApiKeyRow {
  id: string;
  name: string;
  /** The first API_KEY_PREFIX_LENGTH characters of the secret, e.g. `usk_AbCdEfGh`. */
  prefix: string;
  key_hash: string;
  /** Scope names joined by commas, in SCOPES order (see api-key.repository.ts). */
  scopes: string;
  /** The user who created the key; null when a user was deleted or none created it. */
  created_by: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export const apiKeysTable = defineTable<ApiKeyRow, 'id', 'key_hash'>({
  name: 'api_keys',
  primaryKey: 'id',
  columns: {
    id: 'string',
    name: 'string',
    prefix: 'string',
    key_hash: 'string',
    scopes: 'string',
    created_by: 'string?',
    created_at: 'timestamp',
    expires_at: 'timestamp?',
    last_used_at: 'timestamp?',
    revoked_at: 'timestamp?',
  },
  generateId: uuidv7,
  // created_at is set by the service from its clock (there is no updated_at, so no `timestamps`).
  unique: { uq_api_keys_key_hash: ['key_hash'] },
  // Never returned unasked; only the authentication lookup names it (an equality match on the hash).
  secret: ['key_hash'],
  // The declared schema (migrate new --autogenerate, migrate check): what the migrations produce.
  schema: {
    columns: {
      id: types.uuid,
      name: types.string(API_KEY_NAME_MAX_LENGTH),
      prefix: types.string(16),
      key_hash: types.key(64),
      scopes: types.string(255),
      created_by: { type: types.uuid, references: { table: 'users', column: 'id', onDelete: 'set null' } },
      created_at: types.timestamp,
      expires_at: types.timestamp,
      last_used_at: types.timestamp,
      revoked_at: types.timestamp,
    },
    indexes: {
      // Serves the foreign key (a user's deletion sets created_by to null); on MySQL/MariaDB it replaces the
      // index InnoDB would otherwise create under its own name.
      ix_api_keys_created_by: { columns: ['created_by'] },
    },
  },
});
