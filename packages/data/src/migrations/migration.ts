import type { Kysely } from 'kysely';
import type { DialectKind } from '../database-url.js';
import type { ColumnTypes } from '../dialects/dialect.js';

/** What a migration receives: the executor (inside the migration transaction where DDL is transactional). */
export interface MigrationContext {
  db: Kysely<any>;
  /** Column types spelled for the connected database, so one file serves all of them. */
  types: ColumnTypes;
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
