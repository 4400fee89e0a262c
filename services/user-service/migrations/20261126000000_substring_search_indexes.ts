import type { MigrationContext } from '@user-service/data';

// 20261122000200 built the search indexes where a dialect had one (PostgreSQL, pg_trgm); SQLite has one since
// (an FTS5 trigram table, issue 13). This builds it in databases that ran 20261122000200 before: where the
// index is there already (PostgreSQL; SQLite databases created since) it does nothing.
const INDEXES = [
  ['ix_users_full_name_trgm', 'full_name'],
  ['ix_users_username_trgm', 'username'],
  ['ix_users_email_trgm', 'email'],
] as const;

export async function up({ indexes }: MigrationContext): Promise<void> {
  for (const [name, column] of INDEXES) {
    await indexes.createSubstringIndex(name, 'users', column, { ifMissing: true });
  }
}

// The indexes are 20261122000200's, which builds them today and drops them on its own way down: going down past
// this migration leaves the schema as 20261122000200 now produces it, so there is nothing to undo here.
export async function down(_ctx: MigrationContext): Promise<void> {}
