import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';

/** What a failed login is counted against: the account tried, and the client's IP. */
export type LoginFailureKind = 'account' | 'ip';

/**
 * One row per failed login attempt, per subject (an attempt writes an `account` row and an `ip` row). Counting
 * rows instead of updating a counter makes concurrent failures race-safe by construction: 50 parallel wrong
 * passwords insert 50 rows. Rows older than the counting window are pruned (see LoginGuard).
 */
export interface LoginFailureRow {
  id: string;
  kind: LoginFailureKind;
  /** The user's id, `login:<normalised login>` for a login naming no user, or the client IP. */
  subject: string;
  /** Set by the guard from its clock (not stamped by the repository), so tests can move time. */
  created_at: string;
}

/** Longest subject: `login:` and a login of up to 320 characters (LoginBody), or an IP address. */
export const LOGIN_FAILURE_SUBJECT_MAX_LENGTH = 400;

export const loginFailuresTable = defineTable<LoginFailureRow, 'id'>({
  name: 'login_failures',
  primaryKey: 'id',
  columns: {
    id: 'string',
    kind: 'string',
    subject: 'string',
    created_at: 'timestamp',
  },
  generateId: uuidv7,
  // The declared schema (migrate new --autogenerate, migrate check): what the migrations produce.
  schema: {
    columns: {
      id: types.uuid,
      // Byte-for-byte comparison on every database (MariaDB's default collation would fold accents).
      kind: types.key(16),
      subject: types.key(LOGIN_FAILURE_SUBJECT_MAX_LENGTH),
      created_at: types.timestamp,
    },
    indexes: {
      // Every read: one subject's failures since a time, newest first.
      ix_login_failures_kind_subject_created_at: { columns: ['kind', 'subject', 'created_at'] },
      // The prune: every row older than the window.
      ix_login_failures_created_at: { columns: ['created_at'] },
    },
  },
});
