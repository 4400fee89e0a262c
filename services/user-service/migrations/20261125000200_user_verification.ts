import type { MigrationContext } from '@user-service/data';

// Email verification (issue 11): whether the user proved they read mail at their address, and when. Existing
// users start unverified. The session_principals view lists its columns, so it is rebuilt to carry the two new
// ones (the access check builds the request's user from it).

const VIEW_COLUMNS = [
  's.id as id',
  's.user_id as user_id',
  's.revoked_at as session_revoked_at',
  's.expires_at as session_expires_at',
  'u.email as email',
  'u.username as username',
  'u.full_name as full_name',
  'u.is_active as is_active',
  'u.is_superuser as is_superuser',
  'u.created_at as created_at',
  'u.updated_at as updated_at',
] as const;

async function createView(db: MigrationContext['db'], columns: readonly string[]): Promise<void> {
  await db.schema
    .createView('session_principals')
    .as(
      db
        .selectFrom('sessions as s')
        .innerJoin('users as u', 'u.id', 's.user_id')
        .select(columns as never),
    )
    .execute();
}

export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema.dropView('session_principals').execute();
  await db.schema
    .alterTable('users')
    .addColumn('is_verified', types.boolean, (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema.alterTable('users').addColumn('verified_at', types.timestamp).execute();
  await createView(db, [...VIEW_COLUMNS, 'u.is_verified as is_verified', 'u.verified_at as verified_at']);
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropView('session_principals').execute();
  await db.schema.alterTable('users').dropColumn('verified_at').execute();
  await db.schema.alterTable('users').dropColumn('is_verified').execute();
  await createView(db, VIEW_COLUMNS);
}
