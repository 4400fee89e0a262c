import type { MigrationContext } from '@user-service/data';

// A view joining each session to its user: the access check on every authenticated request reads one row by
// primary key (the session id) instead of two (the session, then the user). A view, not a table: nothing to
// keep in sync, and the same SQL on SQLite, PostgreSQL and MariaDB. Schema introspection lists base tables
// only, so `migrate check` does not see it.

export async function up({ db }: MigrationContext): Promise<void> {
  await db.schema
    .createView('session_principals')
    .as(
      db
        .selectFrom('sessions as s')
        .innerJoin('users as u', 'u.id', 's.user_id')
        .select([
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
        ]),
    )
    .execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropView('session_principals').execute();
}
