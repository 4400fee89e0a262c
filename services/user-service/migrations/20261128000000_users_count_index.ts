import type { MigrationContext } from '@user-service/data';

// The narrowest index of users, for count(*): SQLite and InnoDB count a table by reading its smallest index
// whole, and PostgreSQL's index-only count reads the smallest too. Before it the smallest was the username's
// (about 7.5k pages at 1M users): SQLite's count(*) took 10 ms there, 0.1-0.5 ms through this one. A count is in
// every list's total and in every deep offset page SQLite reads from the far end (Dialect.fromTheEnd), which went
// from 14.4 to 1.6 ms p50 at 1M users (issue 13).
export async function up({ db, analyze }: MigrationContext): Promise<void> {
  await db.schema.createIndex('ix_users_is_active').on('users').column('is_active').execute();
  await analyze('users');
}

export async function down({ indexes }: MigrationContext): Promise<void> {
  await indexes.dropIndex('ix_users_is_active', 'users');
}
