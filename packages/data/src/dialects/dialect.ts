import type { ColumnDataType, Expression, Kysely } from 'kysely';
import type { DialectKind, ParsedDatabaseUrl } from '../database-url.js';
import type { DataError } from '../errors.js';
import type { SchemaSnapshot } from '../migrations/schema-snapshot.js';

/** Pool and connection settings; defaults follow the SQLAlchemy services (5 + 10 overflow). */
export interface PoolOptions {
  size: number;
  maxOverflow: number;
  /** How long a request may wait for a free connection (and a new connection may take), in ms. */
  acquireTimeoutMs: number;
  idleTimeoutMs: number;
  /**
   * How long one query may take before it fails with DatabaseUnavailableError, in ms (0: no bound). Enforced
   * by the client, so it holds even when the server is frozen and enforces nothing itself. The connection of
   * a query that timed out is destroyed, never reused. Migrations run unbounded (see `withMigrationLock`).
   * SQLite runs queries in-process and synchronously; there only its lock waits are bounded (`busyTimeoutMs`).
   */
  queryTimeoutMs: number;
  /** SQLite only: how long a writer waits for the file lock, in ms. */
  busyTimeoutMs: number;
}

/** Column types for migrations, so one migration file serves every database. */
export interface ColumnTypes {
  /** A UUID primary or foreign key, exchanged as a string. */
  uuid: ColumnDataType;
  string(length: number): ColumnDataType;
  /**
   * A string that compares byte for byte (no case or accent folding, no trailing-space padding), for keys the
   * code normalises itself. MySQL/MariaDB's default collations fold case and accents; elsewhere it is `string`.
   */
  key(length: number): ColumnDataType | Expression<unknown>;
  text: ColumnDataType;
  boolean: ColumnDataType;
  integer: ColumnDataType;
  bigint: ColumnDataType;
  /** A point in time with millisecond precision, exchanged as an ISO-8601 string. */
  timestamp: ColumnDataType;
}

export interface DialectConnection {
  kysely: Kysely<any>;
  /** Drains the pool: waits for checked-out connections, then closes them. */
  close(): Promise<void>;
}

/**
 * Everything that differs between databases lives behind this interface, one file per database.
 * Nothing outside `dialects/` may ask which database it is talking to.
 */
export interface Dialect {
  readonly kind: DialectKind;
  readonly types: ColumnTypes;
  /** Whether CREATE/ALTER/DROP can be rolled back (a failing migration then leaves no trace). */
  readonly transactionalDdl: boolean;
  connect(url: ParsedDatabaseUrl, pool: PoolOptions): DialectConnection;
  /** Translate a driver error into a DataError, or undefined when it is not one we classify. */
  mapError(error: unknown): DataError | undefined;
  /**
   * Whether a failure to connect is one that retrying cannot fix: the database does not exist, the server
   * refuses the credentials. `openDatabase` then fails at once with the server's own words instead of
   * retrying. A host that does not resolve or refuses connections is retried (in compose it appears later).
   */
  isPermanentError(error: unknown): boolean;
  encodeBoolean(value: boolean): unknown;
  encodeTimestamp(iso: string): unknown;
  /**
   * Run `fn` holding a lock that other processes migrating the same database wait for. On databases with
   * transactional DDL `fn` runs inside one transaction: it commits as a whole or not at all. Queries inside
   * `fn` have no query timeout: a migration may rightly run for minutes.
   */
  withMigrationLock<T>(kysely: Kysely<any>, fn: (db: Kysely<any>) => Promise<T>): Promise<T>;
  /**
   * An index that serves case-insensitive substring search (`contains`) on `column`, where the database has
   * one: a trigram GIN index on PostgreSQL. SQLite and MySQL have no such index; there it does nothing and
   * `contains` scans.
   */
  createSubstringIndex(db: Kysely<any>, name: string, table: string, column: string): Promise<void>;
  dropSubstringIndex(db: Kysely<any>, name: string, table: string): Promise<void>;
  /** DROP INDEX, which MySQL spells with the table (`drop index x on t`) and the others without. */
  dropIndex(db: Kysely<any>, name: string, table: string): Promise<void>;
  /** Tables, columns and indexes of the connected schema, normalised for comparison. */
  introspect(kysely: Kysely<any>): Promise<SchemaSnapshot>;
  /** Run `fn` against an empty, throw-away schema on the same server (used by `migrate check`). */
  withScratchSchema<T>(url: ParsedDatabaseUrl, pool: PoolOptions, fn: (kysely: Kysely<any>) => Promise<T>): Promise<T>;
}
