import type { MigrationContext } from '@user-service/data';

// API keys (src/api-keys/api-key.table.ts): only a SHA-256 hash of each secret is stored, never the secret.
export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('name', types.string(100), (c) => c.notNull())
    .addColumn('prefix', types.string(16), (c) => c.notNull())
    // Hex, compared byte for byte on every database.
    .addColumn('key_hash', types.key(64), (c) => c.notNull())
    .addColumn('scopes', types.string(255), (c) => c.notNull())
    // A user's deletion keeps their keys (a service still uses them) and forgets who created them.
    .addColumn('created_by', types.uuid, (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('expires_at', types.timestamp)
    .addColumn('last_used_at', types.timestamp)
    .addColumn('revoked_at', types.timestamp)
    .execute();
  await db.schema.createIndex('uq_api_keys_key_hash').on('api_keys').column('key_hash').unique().execute();
  await db.schema.createIndex('ix_api_keys_created_by').on('api_keys').column('created_by').execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('api_keys').execute();
}
