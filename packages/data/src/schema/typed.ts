import type { Kysely } from 'kysely';
import type { Database } from '../database.js';
import type { TableDefinition } from '../table.js';

/** The row type of a table definition. */
export type RowOf<T> = T extends TableDefinition<infer Row, any, any> ? Row : never;

/** Table definitions by table name (`{ users: usersTable, personas: personasTable }`). */
export type TableMap = Readonly<Record<string, TableDefinition<any, any, any>>>;

/**
 * The database interface Kysely wants (`{ users: UserRow; personas: PersonaRow }`), derived from the table
 * definitions, so hand-written queries name tables and columns that exist: a wrong one is a compile error.
 * Values are the rows' plain types; the repository converts them per database (booleans, timestamps), a
 * hand-written query gets the driver's values.
 */
export type SchemaOf<Tables extends TableMap> = { [K in keyof Tables]: RowOf<Tables[K]> };

/** A query builder typed from table definitions (what `typedQuery` hands its function). */
export type KyselyOf<Tables extends TableMap> = Kysely<SchemaOf<Tables>>;

/** Checks that every key names its own table (`{ users: personasTable }` would type the wrong rows). */
export function tableMap<const Tables extends TableMap>(tables: Tables): Tables {
  for (const [key, table] of Object.entries(tables)) {
    if (key !== table.name) throw new Error(`Table map key ${key} holds the definition of table ${table.name}`);
  }
  return tables;
}

/**
 * Runs `fn` with a `Kysely<DB>` typed from `tables`, for SQL that belongs to no repository method (test
 * clean-up, one-off scripts). Driver errors come out as DataErrors, as from `Database.query`.
 */
export function typedQuery<Tables extends TableMap, T>(
  database: Database,
  _tables: Tables,
  fn: (db: KyselyOf<Tables>) => Promise<T>,
): Promise<T> {
  return database.query((db) => fn(db as unknown as KyselyOf<Tables>));
}
