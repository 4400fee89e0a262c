import type { MigrationContext } from '@user-service/data';

export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    // Stored lower-cased (see user.service.ts), so a plain unique index makes it unique without regard to case.
    .addColumn('email', types.string(320), (c) => c.notNull())
    .addColumn('username', types.string(64))
    .addColumn('full_name', types.string(255))
    .addColumn('hashed_password', types.string(255), (c) => c.notNull())
    .addColumn('is_active', types.boolean, (c) => c.notNull())
    .addColumn('is_superuser', types.boolean, (c) => c.notNull())
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('updated_at', types.timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('uq_users_email').on('users').column('email').unique().execute();
  await db.schema.createIndex('uq_users_username').on('users').column('username').unique().execute();
  await db.schema.createIndex('ix_users_created_at').on('users').columns(['created_at', 'id']).execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('users').execute();
}
