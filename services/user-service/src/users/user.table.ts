import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';
import {
  EMAIL_MAX_LENGTH,
  FULL_NAME_MAX_LENGTH,
  HASHED_PASSWORD_MAX_LENGTH,
  USERNAME_MAX_LENGTH,
} from './user.fields.js';

/** A row of `users` as the data layer returns it. `hashed_password` never leaves the service layer. */
export interface UserRow {
  id: string;
  email: string;
  username: string | null;
  full_name: string | null;
  hashed_password: string;
  is_active: boolean;
  is_superuser: boolean;
  /** Whether the user proved they read mail at `email` (POST /auth/verify); cleared when the email changes. */
  is_verified: boolean;
  verified_at: string | null;
  created_at: string;
  updated_at: string;
}

export type UserOptional =
  | 'id'
  | 'is_active'
  | 'is_superuser'
  | 'is_verified'
  | 'verified_at'
  | 'created_at'
  | 'updated_at';

export const usersTable = defineTable<UserRow, UserOptional, 'hashed_password'>({
  name: 'users',
  primaryKey: 'id',
  columns: {
    id: 'string',
    email: 'string',
    username: 'string?',
    full_name: 'string?',
    hashed_password: 'string',
    is_active: 'boolean',
    is_superuser: 'boolean',
    is_verified: 'boolean',
    verified_at: 'timestamp?',
    created_at: 'timestamp',
    updated_at: 'timestamp',
  },
  // Time-ordered ids keep inserts at the end of the primary-key index and make id order creation order.
  generateId: uuidv7,
  timestamps: { createdAt: 'created_at', updatedAt: 'updated_at' },
  defaults: { is_active: true, is_superuser: false, is_verified: false, verified_at: null },
  unique: { uq_users_email: ['email'], uq_users_username: ['username'] },
  // Never a filter, sort key or cursor column: the data layer refuses it, so no list can order users by hash.
  secret: ['hashed_password'],
  // The declared schema (migrate new --autogenerate, migrate check): what the migrations produce.
  schema: {
    columns: {
      id: types.uuid,
      email: types.string(EMAIL_MAX_LENGTH),
      username: types.string(USERNAME_MAX_LENGTH),
      full_name: types.string(FULL_NAME_MAX_LENGTH),
      hashed_password: types.string(HASHED_PASSWORD_MAX_LENGTH),
      is_active: types.boolean,
      is_superuser: types.boolean,
      is_verified: { type: types.boolean, default: false },
      verified_at: types.timestamp,
      created_at: types.timestamp,
      updated_at: types.timestamp,
    },
    indexes: {
      ix_users_created_at: { columns: ['created_at', 'id'] },
      // GET /users?is_active=false / is_superuser=true / is_verified=...: a rare value without reading the table.
      ix_users_is_active_created_at: { columns: ['is_active', 'created_at', 'id'] },
      ix_users_is_superuser_created_at: { columns: ['is_superuser', 'created_at', 'id'] },
      ix_users_is_verified_created_at: { columns: ['is_verified', 'created_at', 'id'] },
      // The narrowest index, which count(*) reads (SQLite, InnoDB; PostgreSQL's index-only count): every list's
      // total and SQLite's far-end deep pages count the table (migrations/20261128000000_users_count_index.ts).
      ix_users_is_active: { columns: ['is_active'] },
      // GET /users/search: lower(column) LIKE '%term%', a trigram GIN index on PostgreSQL, an FTS5 trigram table
      // on SQLite (for rare terms), none on MySQL/MariaDB.
      ix_users_full_name_trgm: { columns: ['full_name'], substring: true },
      ix_users_username_trgm: { columns: ['username'], substring: true },
      ix_users_email_trgm: { columns: ['email'], substring: true },
    },
  },
});
