import { type Kysely, sql } from 'kysely';
import { type BulkLoadOptions, bulkLoadPlan, indexesToRebuild, withoutRowValues } from './bulk-load.js';
import { type DialectKind, type ParsedDatabaseUrl, parseDatabaseUrl, redactUrl } from './database-url.js';
import type { Dialect, PoolOptions } from './dialects/dialect.js';
import { loadDialect } from './dialects/index.js';
import { withQueryTimeout } from './dialects/query-timeout.js';
import { DatabaseUnavailableError, DatabaseUrlError, DataError } from './errors.js';
import type { SchemaSnapshot } from './migrations/schema-snapshot.js';
import type { PoolStats, QueryObserver } from './observe.js';
import { CursorCodec } from './pagination.js';
import {
  ConsistencyScope,
  ConsistencyTokenCodec,
  enterScope,
  runInScope,
  WriteMarker,
} from './replication/consistency.js';
import { ReplicaNode, ReplicaSet, type ReplicaStatus } from './replication/replica-set.js';
import { RoutedStore } from './replication/routed-store.js';
import type { DataStore, Repository, RepositoryProvider } from './repository.js';
import type { NewRow, TableDefinition } from './table.js';
import { completeUniqueViolation, tableInfo } from './table-rules.js';
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
  /**
   * Read replicas of the primary (PostgreSQL streaming replicas), as URLs. Reads through `database.eventual`
   * may go to them (see RoutedStore); nothing else does. A replica that does not answer at start is not an
   * error: it joins the rotation when a probe reaches it.
   */
  replicaUrls?: readonly string[];
  /** A replica further behind the primary than this serves no reads (default 30 s). */
  replicaMaxLagMs?: number;
  /** How often replicas are probed (default 250 ms). */
  replicaPollMs?: number;
  /** Told when a replica leaves or rejoins the rotation. */
  onReplicaChange?: (message: string) => void;
}

const DEFAULT_REPLICA_MAX_LAG_MS = 30_000;
const DEFAULT_REPLICA_POLL_MS = 250;
const REPLICA_PROBE_TIMEOUT_MS = 1_000;
/** The position no replica reaches: a scope that requires it reads from the primary. */
const PRIMARY_ONLY = (1n << 64n) - 1n;

/**
 * Read-your-writes with replicas, for the code that serves one client's request (the service's HTTP layer):
 * `open(token)` before the request's work, `token(scope)` after it for the response. Without replicas there is
 * no `Database.consistency` at all, and nothing to do.
 */
export interface Consistency {
  /**
   * Enters a scope for the rest of the calling async context (a request hook), requiring the position in
   * `token` (the client's, from its last write). A token that is present but not one this database signed
   * (altered, or from another deployment) requires the primary: reading fresh data is always safe.
   */
  enter(token: string | undefined): ConsistencyScope;
  /** Runs `fn` in a scope of its own (what a CLI command or a test does instead of `enter`). */
  run<T>(token: string | undefined, fn: (scope: ConsistencyScope) => Promise<T>): Promise<T>;
  /** The position a token stands for (undefined when it is not valid): for remembering it elsewhere. */
  decode(token: string | undefined): bigint | undefined;
  /**
   * How long after a write a replica in the rotation may still not show it (DATABASE_REPLICA_MAX_LAG_MS plus
   * two probe intervals and a probe timeout): a client's write position kept elsewhere must be kept this long.
   */
  readonly stalenessBoundMs: number;
  /**
   * The token a client should send back after this scope, when it wrote: the primary's position read now
   * (after the writes committed), signed. Undefined when the scope did not write.
   */
  token(scope: ConsistencyScope): Promise<string | undefined>;
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
  /** @internal The cursor key, shared with the replicas so a page read on one continues on another. */
  readonly cursors: CursorCodec;
  private replicas: ReplicaSet | undefined;
  /**
   * Reads that may lag: a store whose plain reads (no secret columns) may be served by a read replica, as
   * fresh as the current consistency scope needs; writes and units of work go to the primary. Without replicas
   * it is this database itself.
   */
  eventual: DataStore = this;
  /** Read-your-writes tokens; undefined without replicas (there is nothing to be consistent with). */
  consistency: Consistency | undefined;

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
    /**
     * A cheap, synchronous token of "nothing has changed": two calls that return the same string saw no row
     * inserted, updated or deleted in the database in between, by this process or any other. Undefined when
     * it cannot tell right now (inside a transaction, a busy connection), and always undefined where the
     * database offers no such counter without a round trip (PostgreSQL, MySQL/MariaDB). For process-local
     * caches of rows that other processes may change: a changed stamp means "read again".
     */
    readonly changeStamp: () => string | undefined = () => undefined,
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

  /** Updates the planner's statistics of these tables (after a bulk load; see Dialect.analyze). */
  async analyze(tables: readonly string[]): Promise<void> {
    for (const table of tables) await this.query((db) => this.dialect.analyze(db, table));
  }

  /**
   * Loads many rows into `table` as fast as the database takes them (benchmarks, seeding, imports into an empty
   * table): PostgreSQL COPY, one reused multi-row INSERT on SQLite, multi-row INSERTs on MySQL/MariaDB. Rows are
   * completed as `createMany` completes them (defaults, ids, timestamps). When the table is empty (or
   * `rebuildIndexes` says so) its secondary indexes are dropped first and built again after, the way migrations
   * built them (except where that measured slower: SQLite's FTS5 substring indexes stay). Unique indexes stay (one
   * may back a UNIQUE constraint, which cannot be dropped as an index), so a duplicate fails the load itself. Nothing is
   * written on failure except on MySQL/MariaDB, where the rows go in one transaction but the index DDL commits on
   * its own: a failed load there leaves the table as it was, its dropped indexes built again. Ends with fresh
   * planner statistics (PostgreSQL: VACUUM (ANALYZE)). No query timeout applies. Resolves to the number of rows
   * loaded.
   */
  async bulkLoad<Row extends object, Optional extends keyof Row>(
    table: TableDefinition<Row, Optional, any>,
    rows: AsyncIterable<NewRow<Row, Optional>> | Iterable<NewRow<Row, Optional>>,
    options: BulkLoadOptions = {},
  ): Promise<number> {
    const snapshot = (await this.introspect()).tables[table.name];
    if (!snapshot) throw new DataError(`bulkLoad: table ${table.name} does not exist`);
    const rebuild =
      options.rebuildIndexes ??
      (await this.query((db) => db.selectFrom(table.name).select(sql.lit(1).as('one')).limit(1).execute())).length ===
        0;
    const indexes = rebuild ? indexesToRebuild(snapshot) : [];
    const plan = bulkLoadPlan(this.dialect, table, rows, indexes, options);
    try {
      return await withQueryTimeout(0, () => this.dialect.bulkLoad(this.kysely, this.parsedUrl, this.pool, plan));
    } catch (error) {
      const mapped = this.asDataError(error);
      withoutRowValues(mapped);
      // MySQL names the violated key, not its columns: the table's declaration does (as for createMany).
      throw mapped instanceof DataError ? completeUniqueViolation(tableInfo(table), mapped) : mapped;
    }
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

  /** Each read replica's health, lag and reads served; empty without replicas. */
  replicaStatus(): ReplicaStatus[] {
    return this.replicas?.status() ?? [];
  }

  /**
   * Starts routing `eventual` reads to `replicas` (openDatabase does this). Statements on the primary mark the
   * current consistency scope when they write, through a Kysely plugin on the primary's query builder.
   */
  useReplicas(replicas: ReplicaSet, tokenSecret: string | undefined): void {
    const replication = this.dialect.replication!;
    const primary = this.kysely;
    const tokens = new ConsistencyTokenCodec(tokenSecret);
    this.replicas = replicas;
    this.eventual = new RoutedStore(this, replicas);
    const scopeFor = (token: string | undefined) => {
      const scope = new ConsistencyScope();
      if (token !== undefined) scope.require(tokens.decode(token) ?? PRIMARY_ONLY);
      return scope;
    };
    this.consistency = {
      enter(token) {
        const scope = scopeFor(token);
        enterScope(scope);
        return scope;
      },
      run: (token, fn) => {
        const scope = scopeFor(token);
        return runInScope(scope, () => fn(scope));
      },
      decode: (token) => tokens.decode(token),
      stalenessBoundMs: replicas.stalenessBoundMs,
      token: async (scope) => {
        if (!scope.wrote) return undefined;
        try {
          return tokens.encode(await replication.primaryPosition(primary));
        } catch (error) {
          throw this.asDataError(error);
        }
      },
    };
  }

  /** Waits for in-flight queries to finish, then closes every connection (the replicas' too). */
  async close(): Promise<void> {
    await this.replicas?.close();
    await this.closer();
  }
}

/** Opens a pool per replica and starts probing them; a replica that does not answer yet is not an error. */
async function attachReplicas(
  database: Database,
  dialect: Dialect,
  pool: PoolOptions,
  replicas: readonly { url: string; parsed: ParsedDatabaseUrl }[],
  options: DatabaseOptions,
): Promise<void> {
  const cursors = database.cursors;
  const nodes = replicas.map(({ url, parsed }) => {
    const { kysely, close } = dialect.connect(parsed, pool, options.onQuery ? { onQuery: options.onQuery } : {});
    return new ReplicaNode(redactUrl(url), kysely, dialect, cursors, close);
  });
  const set = new ReplicaSet(nodes, database.kysely, dialect.replication!, {
    pollMs: options.replicaPollMs ?? DEFAULT_REPLICA_POLL_MS,
    maxLagMs: options.replicaMaxLagMs ?? DEFAULT_REPLICA_MAX_LAG_MS,
    probeTimeoutMs: REPLICA_PROBE_TIMEOUT_MS,
    ...(options.onReplicaChange ? { onChange: options.onReplicaChange } : {}),
  });
  await set.start();
  database.useReplicas(set, options.cursorSecret);
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
  const replicaUrls = options.replicaUrls ?? [];
  if (replicaUrls.length > 0 && !dialect.replication) {
    connection.close().catch(() => {});
    throw new DatabaseUrlError(
      `Read replicas (DATABASE_REPLICA_URLS) are supported on PostgreSQL only, not with ${redactUrl(url)}`,
    );
  }
  const replicas = replicaUrls.map((replicaUrl) => {
    const parsedReplica = parseDatabaseUrl(replicaUrl);
    if (parsedReplica.kind !== dialect.kind) {
      connection.close().catch(() => {});
      throw new DatabaseUrlError(`Replica ${redactUrl(replicaUrl)} is not a ${dialect.kind} URL like DATABASE_URL`);
    }
    return { url: replicaUrl, parsed: parsedReplica };
  });
  const { close, stats, changeStamp } = connection;
  // With replicas, every statement on the primary goes through the WriteMarker (see consistency.ts).
  const kysely = replicaUrls.length > 0 ? connection.kysely.withPlugin(new WriteMarker()) : connection.kysely;
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
    // Not with replicas (PostgreSQL only, which has no stamp anyway).
    changeStamp,
  );
  const attempts = options.connectAttempts ?? 5;
  let delay = options.connectDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      await database.ping();
      break;
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
  if (replicas.length > 0) {
    try {
      await attachReplicas(database, dialect, pool, replicas, options);
    } catch (error) {
      await database.close().catch(() => {});
      throw error;
    }
  }
  return database;
}
