import { type Kysely, sql } from 'kysely';
import { type DialectKind, type ParsedDatabaseUrl, parseDatabaseUrl, redactUrl } from './database-url.js';
import type { Dialect, PoolOptions } from './dialects/dialect.js';
import { loadDialect } from './dialects/index.js';
import { withQueryTimeout } from './dialects/query-timeout.js';
import { DatabaseUnavailableError, DatabaseUrlError, DataError } from './errors.js';
import type { SchemaSnapshot } from './migrations/schema-snapshot.js';
import type { PoolStats, QueryObserver } from './observe.js';
import { CursorCodec } from './pagination.js';
import type { DataStore, Repository, RepositoryProvider } from './repository.js';
import type { TableDefinition } from './table.js';
import { runUnitOfWork, SqlScope } from './transaction.js';

export interface DatabaseOptions {
  pool?: Partial<PoolOptions>;
  /**
   * Start-up connection attempts before giving up (default 5). A failure retrying cannot fix (the database
   * does not exist, the credentials are refused) fails at once with DatabaseUrlError and the server's words.
   */
  connectAttempts?: number;
  /** Delay before the second attempt, doubling after each failure up to 10 s (default 500 ms). */
  connectDelayMs?: number;
  /** Called before each retry, e.g. to log "database not ready, retrying in ...". */
  onConnectRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /**
   * The key that signs keyset cursors. Every process serving the same lists must share it (the service
   * derives it from JWT_SECRET); random per process when omitted.
   */
  cursorSecret?: string;
  /** Told about every statement after it ran, e.g. to time queries for metrics or traces. */
  onQuery?: QueryObserver;
}

export const DEFAULT_POOL: PoolOptions = {
  size: 5,
  maxOverflow: 10,
  acquireTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  queryTimeoutMs: 5_000,
  busyTimeoutMs: 5_000,
};

export class Database implements DataStore {
  private readonly scope: SqlScope;
  private readonly cursors: CursorCodec;

  constructor(
    readonly kind: DialectKind,
    readonly dialect: Dialect,
    readonly kysely: Kysely<any>,
    private readonly parsedUrl: ParsedDatabaseUrl,
    private readonly pool: PoolOptions,
    /** The URL with its password hidden, for logs. */
    readonly displayUrl: string,
    private readonly closer: () => Promise<void>,
    cursorSecret?: string,
    private readonly stats: () => PoolStats = () => ({ max: 0, inUse: 0, idle: 0, waiting: 0 }),
  ) {
    this.cursors = new CursorCodec(cursorSecret);
    this.scope = new SqlScope(kysely, dialect, this.cursors);
  }

  repository<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string = never>(
    table: TableDefinition<Row, Optional, Secret>,
  ): Repository<Row, Optional, Secret> {
    return this.scope.repository(table);
  }

  unitOfWork<T>(work: (uow: RepositoryProvider) => Promise<T>): Promise<T> {
    return runUnitOfWork(this.kysely, this.dialect, this.cursors, work);
  }

  /**
   * Resolves when the database answers a trivial query; throws DatabaseUnavailableError otherwise. With
   * `timeoutMs` it gives up after that long, however the time is spent (waiting for a connection, opening
   * one, the query itself): what a readiness probe needs.
   */
  async ping(options: { timeoutMs?: number } = {}): Promise<void> {
    const query = () => sql`select 1`.execute(this.kysely);
    try {
      await (options.timeoutMs === undefined ? query() : this.withTimeout(options.timeoutMs, query));
    } catch (error) {
      if (error instanceof DataError) throw error;
      const mapped = this.dialect.mapError(error);
      throw mapped instanceof DataError
        ? mapped
        : new DatabaseUnavailableError('Database did not answer', { cause: error });
    }
  }

  /**
   * Runs `work` with a deadline: each query it issues is bounded by `timeoutMs` (or the pool's shorter query
   * timeout), and when the whole of it, waits for a connection included, takes longer, it fails with
   * DatabaseUnavailableError. Queries still running then are left to their own bound.
   */
  async withTimeout<T>(timeoutMs: number, work: () => Promise<T>): Promise<T> {
    const perQuery = this.pool.queryTimeoutMs > 0 ? Math.min(timeoutMs, this.pool.queryTimeoutMs) : timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new DatabaseUnavailableError(`Database did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([withQueryTimeout(perQuery, work), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs `fn` with the query builder, for SQL that belongs to neither a repository nor a unit of work (the
   * migrator's own table); driver errors come out as DataErrors.
   */
  async query<T>(fn: (db: Kysely<any>) => Promise<T>): Promise<T> {
    try {
      return await fn(this.kysely);
    } catch (error) {
      throw this.asDataError(error);
    }
  }

  /**
   * Runs `fn` holding the lock that other processes migrating this database wait for; where DDL is
   * transactional, inside one transaction (see Dialect.withMigrationLock). Driver errors come out as DataErrors.
   */
  async withMigrationLock<T>(fn: (db: Kysely<any>) => Promise<T>): Promise<T> {
    try {
      return await this.dialect.withMigrationLock(this.kysely, fn);
    } catch (error) {
      throw this.asDataError(error);
    }
  }

  /** Runs `fn` on an empty, throw-away schema of the same server, with this database's credentials and bounds. */
  withScratchSchema<T>(fn: (scratch: Kysely<any>) => Promise<T>): Promise<T> {
    return this.dialect.withScratchSchema(this.parsedUrl, this.pool, fn);
  }

  /** Tables, columns and indexes of the connected schema, normalised for comparison (migrations excluded). */
  introspect(): Promise<SchemaSnapshot> {
    return this.dialect.introspect(this.kysely);
  }

  /** Whether the connected schema has a table (or view) of this name, the migrations' own table included. */
  async hasTable(name: string): Promise<boolean> {
    const tables = await this.query((db) => db.introspection.getTables());
    return tables.some((t) => t.name === name);
  }

  private asDataError(error: unknown): unknown {
    return error instanceof DataError ? error : (this.dialect.mapError(error) ?? error);
  }

  /** Connections in use, idle and waited for right now (what a pool gauge reports). */
  poolStats(): PoolStats {
    return this.stats();
  }

  /** Waits for in-flight queries to finish, then closes every connection. */
  close(): Promise<void> {
    return this.closer();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens a database chosen by its URL alone and checks that it answers, retrying with backoff so a service
 * started alongside its database (compose, CI) waits for it instead of crashing.
 */
export async function openDatabase(url: string, options: DatabaseOptions = {}): Promise<Database> {
  const parsed = parseDatabaseUrl(url);
  const dialect = await loadDialect(parsed.kind);
  const pool = { ...DEFAULT_POOL, ...options.pool };
  let connection: ReturnType<Dialect['connect']>;
  try {
    connection = dialect.connect(parsed, pool, options.onQuery ? { onQuery: options.onQuery } : {});
  } catch (error) {
    // SQLite opens its file right here: a file that is not a database is as permanent as a missing server database.
    if (!dialect.isPermanentError(error)) throw error;
    throw new DatabaseUrlError(`Cannot use ${redactUrl(url)}: ${(error as Error).message}`, { cause: error });
  }
  const { kysely, close, stats } = connection;
  const database = new Database(
    parsed.kind,
    dialect,
    kysely,
    parsed,
    pool,
    redactUrl(url),
    close,
    options.cursorSecret,
    stats,
  );
  const attempts = options.connectAttempts ?? 5;
  let delay = options.connectDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      await database.ping();
      return database;
    } catch (error) {
      const cause = error instanceof DataError && error.cause !== undefined ? error.cause : error;
      if (dialect.isPermanentError(cause)) {
        await database.close().catch(() => {});
        throw new DatabaseUrlError(
          `Cannot use ${database.displayUrl}: ${(cause as Error).message} (not retried: waiting does not fix this)`,
          { cause },
        );
      }
      if (attempt >= attempts) {
        await database.close().catch(() => {});
        throw new DatabaseUnavailableError(
          `Could not connect to ${database.displayUrl} after ${attempts} attempt(s): ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`,
          { cause: error },
        );
      }
      options.onConnectRetry?.(attempt, delay, error);
      await sleep(delay);
      delay = Math.min(delay * 2, 10_000);
    }
  }
}
