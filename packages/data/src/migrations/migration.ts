import type { Kysely } from 'kysely';
import type { DialectKind } from '../database-url.js';
import type { ColumnChange, ColumnTypes, Dialect } from '../dialects/dialect.js';

/** What a migration receives: the executor (inside the migration transaction where DDL is transactional). */
export interface MigrationContext {
  db: Kysely<any>;
  /** Column types spelled for the connected database, so one file serves all of them. */
  types: ColumnTypes;
  /** Indexes whose SQL differs by database; each does the right thing (or nothing) on the connected one. */
  indexes: {
    /** `ifMissing`: leaves an index of that name that exists as it is (a migration that adds what a dialect
     * did not build before). */
    createSubstringIndex(name: string, table: string, column: string, options?: { ifMissing?: boolean }): Promise<void>;
    dropSubstringIndex(name: string, table: string): Promise<void>;
    dropIndex(name: string, table: string): Promise<void>;
  };
  /**
   * Changes a column's type, nullability and default in place, as the connected database spells it (SQLite
   * cannot: it throws, and the migration rebuilds the table by hand).
   */
  alterColumn(table: string, column: string, to: ColumnChange): Promise<void>;
  /**
   * Updates the planner's statistics of a table (Dialect.analyze), e.g. after adding an index: SQLite keeps
   * none of its own, and without them it may take a new index for selective when it is not.
   */
  analyze(table: string): Promise<void>;
  /** For logging only; branch on it in a dialect file, never in a migration. */
  kind: DialectKind;
}

/** A migration file exports `up` and `down`; its file name (a UTC timestamp then a slug) is its id. */
export interface Migration {
  up(ctx: MigrationContext): Promise<void>;
  down(ctx: MigrationContext): Promise<void>;
}

export interface NamedMigration extends Migration {
  name: string;
}

export function migrationContext(db: Kysely<any>, dialect: Dialect): MigrationContext {
  return {
    db,
    types: dialect.types,
    kind: dialect.kind,
    alterColumn: (table, column, to) => dialect.alterColumn(db, table, column, to),
    analyze: (table) => dialect.analyze(db, table),
    indexes: {
      createSubstringIndex: (name, table, column, options) =>
        dialect.createSubstringIndex(db, name, table, column, options),
      dropSubstringIndex: (name, table) => dialect.dropSubstringIndex(db, name, table),
      dropIndex: (name, table) => dialect.dropIndex(db, name, table),
    },
  };
}
