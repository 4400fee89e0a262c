import type { MigrationContext } from '@user-service/data';

// GET /users filters by these flags (the admin console's Active, Superuser and Verified filters), newest first
// by default. Without an index a rare value (the inactive, the superusers) meant reading the whole table: at 1M
// users on SQLite 500-650 ms for is_active=false or is_superuser=true, 1.9 s with a search term as well, and
// SQLite runs a statement on the event loop. With (flag, created_at, id) the planner reads only those rows, in
// the order the console shows them.
const INDEXES = [
  ['ix_users_is_active_created_at', 'is_active'],
  ['ix_users_is_superuser_created_at', 'is_superuser'],
  ['ix_users_is_verified_created_at', 'is_verified'],
] as const;

export async function up({ db, analyze }: MigrationContext): Promise<void> {
  for (const [name, flag] of INDEXES) {
    await db.schema.createIndex(name).on('users').columns([flag, 'created_at', 'id']).execute();
  }
  // Statistics for the new indexes: without them SQLite took ix_users_is_active_created_at for selective and
  // sorted every active user for a search by email (1.3 s at 1M instead of 0.33 s); 1.2 s once, at 1M users.
  await analyze('users');
}

export async function down({ indexes }: MigrationContext): Promise<void> {
  for (const [name] of INDEXES) await indexes.dropIndex(name, 'users');
}
