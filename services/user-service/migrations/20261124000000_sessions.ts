import type { MigrationContext } from '@user-service/data';

// Sessions and their refresh tokens (the access issue). A session ends with its user (ON DELETE CASCADE), and
// its refresh tokens with it.

export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('sessions')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('user_id', types.uuid, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('updated_at', types.timestamp, (c) => c.notNull())
    .addColumn('last_used_at', types.timestamp, (c) => c.notNull())
    .addColumn('expires_at', types.timestamp, (c) => c.notNull())
    .addColumn('revoked_at', types.timestamp)
    .addColumn('revoked_reason', types.string(32))
    .addColumn('ip', types.string(45))
    .addColumn('user_agent', types.string(255))
    .execute();
  await db.schema
    .createIndex('ix_sessions_user_id_created_at')
    .on('sessions')
    .columns(['user_id', 'created_at'])
    .execute();
  await db.schema
    .createTable('refresh_tokens')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('session_id', types.uuid, (c) => c.notNull().references('sessions.id').onDelete('cascade'))
    .addColumn('token_hash', types.key(64), (c) => c.notNull())
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('expires_at', types.timestamp, (c) => c.notNull())
    .addColumn('used_at', types.timestamp)
    .execute();
  await db.schema
    .createIndex('uq_refresh_tokens_token_hash')
    .on('refresh_tokens')
    .column('token_hash')
    .unique()
    .execute();
  await db.schema.createIndex('ix_refresh_tokens_session_id').on('refresh_tokens').column('session_id').execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('refresh_tokens').execute();
  await db.schema.dropTable('sessions').execute();
}
