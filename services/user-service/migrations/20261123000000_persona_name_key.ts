import type { MigrationContext } from '@user-service/data';

// personaNameKey (src/personas/persona.table.ts) as of this migration; a migration keeps its own copy, so it
// means the same thing however the code changes later.
const nameKey = (name: string) => name.trim().toLowerCase();

// Persona names are unique per user without regard to case ("Home", "home" and "HOME" are one name), on every
// database. Before this, the unique index was on `name` itself: SQLite and PostgreSQL compared it exactly,
// MariaDB's collation folded case and accents. Now the index is on `name_key`, the name trimmed and
// lower-cased by the code (personas.table.ts), in a column that compares byte for byte everywhere.

export async function up({ db, types, indexes }: MigrationContext): Promise<void> {
  // Nullable in the schema (adding a NOT NULL column is spelled differently everywhere); always set by the code.
  await db.schema.alterTable('personas').addColumn('name_key', types.key(200)).execute();
  // Existing rows that differ only by case keep their names; the later ones get a key made unique by their id.
  const rows = await db
    .selectFrom('personas')
    .select(['id', 'user_id', 'name'])
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const taken = new Set<string>();
  for (const row of rows) {
    let key = nameKey(String(row.name));
    if (taken.has(`${row.user_id}\0${key}`)) key = `${key}#${row.id}`;
    taken.add(`${row.user_id}\0${key}`);
    await db.updateTable('personas').set({ name_key: key }).where('id', '=', row.id).execute();
  }
  // The new index first: on MySQL/MariaDB the old one serves the user_id foreign key until it exists.
  await db.schema
    .createIndex('uq_personas_user_id_name_key')
    .on('personas')
    .columns(['user_id', 'name_key'])
    .unique()
    .execute();
  await indexes.dropIndex('uq_personas_user_id_name', 'personas');
}

export async function down({ db, indexes }: MigrationContext): Promise<void> {
  await db.schema
    .createIndex('uq_personas_user_id_name')
    .on('personas')
    .columns(['user_id', 'name'])
    .unique()
    .execute();
  await indexes.dropIndex('uq_personas_user_id_name_key', 'personas');
  await db.schema.alterTable('personas').dropColumn('name_key').execute();
}
