import type { MigrationContext } from '@user-service/data';

// Emailed account tokens (src/auth/account-token.table.ts): verification and password reset. Only a SHA-256
// hash of each token is stored; a user's tokens go with the user (ON DELETE CASCADE).
export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('account_tokens')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('user_id', types.uuid, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', types.key(16), (c) => c.notNull())
    // Hex, compared byte for byte on every database.
    .addColumn('token_hash', types.key(64), (c) => c.notNull())
    .addColumn('email', types.string(320), (c) => c.notNull())
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('expires_at', types.timestamp, (c) => c.notNull())
    .addColumn('used_at', types.timestamp)
    .execute();
  await db.schema
    .createIndex('uq_account_tokens_token_hash')
    .on('account_tokens')
    .column('token_hash')
    .unique()
    .execute();
  await db.schema
    .createIndex('ix_account_tokens_user_id_kind_created_at')
    .on('account_tokens')
    .columns(['user_id', 'kind', 'created_at'])
    .execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('account_tokens').execute();
}
