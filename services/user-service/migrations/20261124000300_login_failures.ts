import type { MigrationContext } from '@user-service/data';

// One row per failed login attempt and subject (src/auth/login-failure.table.ts): counted per account and per
// client IP within the lockout window, pruned once older than it.
export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('login_failures')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('kind', types.key(16), (c) => c.notNull())
    .addColumn('subject', types.key(400), (c) => c.notNull())
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('ix_login_failures_kind_subject_created_at')
    .on('login_failures')
    .columns(['kind', 'subject', 'created_at'])
    .execute();
  await db.schema.createIndex('ix_login_failures_created_at').on('login_failures').column('created_at').execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('login_failures').execute();
}
