import type { MigrationContext } from '@user-service/data';

// GET /users/search matches lower(column) LIKE '%term%' on these three columns; PostgreSQL serves that
// from trigram indexes, SQLite from FTS5 trigram tables (since issue 13; 20261126000000 adds them to databases
// that ran this before). MySQL has no such index and scans (the dialect makes these no-ops there).
const INDEXES = [
  ['ix_users_full_name_trgm', 'full_name'],
  ['ix_users_username_trgm', 'username'],
  ['ix_users_email_trgm', 'email'],
] as const;

export async function up({ indexes }: MigrationContext): Promise<void> {
  for (const [name, column] of INDEXES) await indexes.createSubstringIndex(name, 'users', column);
}

export async function down({ indexes }: MigrationContext): Promise<void> {
  for (const [name] of INDEXES) await indexes.dropSubstringIndex(name, 'users');
}
