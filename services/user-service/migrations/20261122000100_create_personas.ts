import type { MigrationContext } from '@user-service/data';

export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('personas')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('user_id', types.uuid, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', types.string(128), (c) => c.notNull())
    .addColumn('description', types.string(255))
    .addColumn('relation_type', types.string(32), (c) => c.notNull())
    .addColumn('status', types.string(32), (c) => c.notNull())
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('updated_at', types.timestamp, (c) => c.notNull())
    .execute();
  // One user's personas have distinct names; the index also serves "personas of user X" lookups.
  await db.schema
    .createIndex('uq_personas_user_id_name')
    .on('personas')
    .columns(['user_id', 'name'])
    .unique()
    .execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('personas').execute();
}
