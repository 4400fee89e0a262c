import type { MigrationContext } from '@user-service/data';

// The keys that sign access tokens (EdDSA): the newest key that is not retired signs; retired keys keep
// verifying until the tokens they signed have expired, then they are deleted. The private key is encrypted when
// KEY_ENCRYPTION_SECRET is set (src/auth/key-encryption.ts).

export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', types.key(64), (c) => c.primaryKey())
    .addColumn('algorithm', types.string(16), (c) => c.notNull())
    .addColumn('public_jwk', types.text, (c) => c.notNull())
    .addColumn('private_jwk', types.text, (c) => c.notNull())
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('retired_at', types.timestamp)
    .execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('signing_keys').execute();
}
