import { Kysely, MysqlDialect, type MysqlPool, type MysqlPoolConnection, sql } from 'kysely';
import { createConnection, createPool as createMysqlPool, type Pool, type PoolConnection } from 'mysql2';
import type { ParsedDatabaseUrl } from '../database-url.js';
import {
  ConstraintViolationError,
  DatabaseUnavailableError,
  type DataError,
  ForeignKeyViolationError,
  InvalidQueryError,
  TransactionConflictError,
  UniqueViolationError,
} from '../errors.js';
import { kyselyConnection } from './connection.js';
import type { Dialect, PoolOptions } from './dialect.js';
import { mysqlBulkLoad } from './mysql-bulk-load.js';
import { alterMysqlColumn, introspectMysql } from './mysql-schema.js';
import { NETWORK_ERROR_CODES } from './network-errors.js';
import { AcquireTimeoutError, QueryTimeoutError, queryTimeoutFor, withQueryTimeout } from './query-timeout.js';

const MIGRATION_LOCK_NAME = 'user_service_migrations';
const MIGRATION_LOCK_WAIT_SECONDS = 300;

const UNAVAILABLE_CODES = new Set([
  ...NETWORK_ERROR_CODES,
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_TOO_MANY_USER_CONNECTIONS',
  // A row lock not granted in innodb_lock_wait_timeout: nothing half-done, and trying again later may succeed:
  // 503 + Retry-After, never a 500. (Not retried at once: the lock is still held by someone.)
  'ER_LOCK_WAIT_TIMEOUT',
  'QUERY_TIMEOUT',
  'ACQUIRE_TIMEOUT',
]);
// Connecting cannot succeed by retrying: unknown database (1049), access denied (1045 password, 1044 database,
// 1698 no password given), host not allowed (1130), authentication method not supported (1251). Met later, they
// make the database unavailable like an outage does.
const PERMANENT_ERRNOS = new Set([1044, 1045, 1049, 1130, 1251, 1698]);
const UNAVAILABLE_MESSAGES = /Pool is closed|closed state|Connection lost|Queue limit reached|connect ETIMEDOUT/i;

/** How long a best-effort KILL QUERY may take (it goes to the same, possibly frozen, server). */
const CANCEL_TIMEOUT_MS = 2_000;

/** Stops a connection's running statement from a second connection, as the mysql client's Ctrl-C does. */
function killQuery(url: ParsedDatabaseUrl, threadId: number): void {
  if (url.kind !== 'mysql') return;
  const conn = createConnection({
    host: url.host,
    port: url.port,
    user: url.user ?? 'root',
    password: url.password,
    connectTimeout: CANCEL_TIMEOUT_MS,
  });
  conn.on('error', () => {});
  const timer = setTimeout(() => conn.destroy(), CANCEL_TIMEOUT_MS);
  conn.query(`kill query ${Number(threadId)}`, () => {
    clearTimeout(timer);
    conn.destroy();
  });
}

/**
 * The mysql2 pool seen through Kysely's MysqlPool interface, with the bounds mysql2 lacks. Waiting for a free
 * connection is bounded by `acquireTimeoutMs` (mysql2 queues callers for ever; `connectTimeout` only bounds
 * opening one). Each query is bounded by `queryTimeoutMs`: mysql2's own per-query `timeout` fails the caller
 * but returns the connection to the pool with the query still outstanding, so the next caller would queue
 * behind it. Here the statement is killed on the server (best effort) and the connection destroyed, which
 * removes it from the pool.
 */
function boundedPool(url: ParsedDatabaseUrl, raw: Pool, options: PoolOptions): MysqlPool {
  const wrappers = new WeakMap<PoolConnection, MysqlPoolConnection>();
  const wrap = (conn: PoolConnection): MysqlPoolConnection => {
    let wrapper = wrappers.get(conn);
    if (wrapper) return wrapper;
    const query = conn.query.bind(conn) as (...args: unknown[]) => any;
    wrapper = {
      query(sqlText: string, parameters: unknown[], callback?: (error: unknown, result: any) => void): any {
        const ms = queryTimeoutFor(options.queryTimeoutMs);
        // Without a callback it is Kysely's streaming form: unbounded, like pg's cursors.
        if (!callback || !ms) return query(sqlText, parameters, callback);
        let settled = false;
        const timer = setTimeout(() => {
          settled = true;
          if (conn.threadId !== null) killQuery(url, conn.threadId);
          conn.destroy();
          // destroy() only ends the socket politely; a frozen server would keep it half-open until it thaws.
          (conn as unknown as { stream?: { destroy(): void } }).stream?.destroy();
          callback(new QueryTimeoutError(ms), undefined);
        }, ms);
        query(sqlText, parameters, (error: unknown, result: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          callback(error, result);
        });
      },
      // After destroy() the connection no longer belongs to the pool and release() does nothing.
      release: () => conn.release(),
    } as MysqlPoolConnection;
    wrappers.set(conn, wrapper);
    return wrapper;
  };
  return {
    end: (callback) => raw.end(callback),
    getConnection(callback) {
      let waiting = true;
      const timer = setTimeout(() => {
        waiting = false;
        callback(new AcquireTimeoutError(options.acquireTimeoutMs), undefined as never);
      }, options.acquireTimeoutMs);
      raw.getConnection((error, conn) => {
        if (!waiting) {
          // The caller gave up; a connection that arrives late goes straight back.
          conn?.release();
          return;
        }
        waiting = false;
        clearTimeout(timer);
        if (error) callback(error, undefined as never);
        else callback(null, wrap(conn));
      });
    },
  };
}

/**
 * Every connection reads and writes at READ COMMITTED, PostgreSQL's default, instead of InnoDB's REPEATABLE READ.
 * Under REPEATABLE READ an UPDATE or DELETE that finds no row still locks the gap where that row would be, and two
 * transactions holding the same gap deadlock as soon as both insert into it: a unit of work that voids a new
 * user's tokens and then issues one (every registration) deadlocked under 32 concurrent creates (InnoDB status:
 * both waiting for "insert intention" on the supremum of ix_account_tokens_user_id_kind_created_at). READ
 * COMMITTED takes no such gap locks, and gives the semantics the other databases give: each statement sees what
 * was committed before it. (It needs binlog_format ROW or MIXED when binary logging is on: the servers' defaults.)
 */
const SESSION_SETUP = 'set session transaction isolation level read committed';

function createPool(url: ParsedDatabaseUrl, pool: PoolOptions, database?: string): Pool {
  if (url.kind !== 'mysql') throw new Error('mysql dialect needs a mysql URL');
  const created = createMysqlPool({
    host: url.host,
    port: url.port,
    user: url.user ?? 'root',
    password: url.password,
    database: database ?? url.database,
    connectionLimit: pool.size + pool.maxOverflow,
    maxIdle: pool.size,
    idleTimeout: pool.idleTimeoutMs,
    connectTimeout: pool.acquireTimeoutMs,
    // DATETIME carries no zone: we always write and read UTC.
    timezone: 'Z',
    charset: 'utf8mb4',
    supportBigNumbers: true,
    // An UPDATE reports the rows it matched, not only those whose values changed, as on SQLite and
    // PostgreSQL: Repository.updateWhere returns that count. mysql2 sets this flag by default; naming it
    // keeps the meaning if that default ever changes.
    flags: ['FOUND_ROWS'],
  });
  // Emitted for a new connection before it is handed out; the statement is queued ahead of any other on it. A
  // connection that cannot take it is dropped, so none runs at the server's default level.
  created.on('connection', (conn) => {
    conn.query(SESSION_SETUP, (error) => {
      if (error) conn.destroy();
    });
  });
  return created;
}

export const mysqlDialect: Dialect = {
  kind: 'mysql',
  // MySQL and MariaDB commit DDL implicitly: a failing migration can leave earlier statements applied.
  transactionalDdl: false,
  types: {
    uuid: 'char(36)',
    string: (length) => `varchar(${length})`,
    // utf8mb4_bin still pads trailing spaces on MariaDB; keys are stored trimmed, so that never matters.
    key: (length) => sql.raw(`varchar(${length}) character set utf8mb4 collate utf8mb4_bin`),
    text: 'text',
    boolean: 'boolean',
    integer: 'integer',
    bigint: 'bigint',
    timestamp: 'datetime(3)',
  },

  connect(url, pool, options) {
    const raw = createPool(url, pool);
    // mysql2 keeps its idle connections in a queue it does not expose as API; its length is the idle count.
    const free = (raw as unknown as { _freeConnections?: { length: number } })._freeConnections;
    return kyselyConnection(
      new MysqlDialect({ pool: boundedPool(url, raw, pool) }),
      { max: pool.size + pool.maxOverflow, ...(free ? { idle: () => free.length } : {}) },
      options,
    );
  },

  mapError(error): DataError | undefined {
    const e = error as { code?: unknown; errno?: number; message?: string; fatal?: boolean };
    const message = e?.message ?? '';
    if (e?.errno === 1062) {
      // "Duplicate entry 'x' for key 'users.uq_users_email'" (MySQL 8) or "... for key 'uq_users_email'" (MariaDB)
      const key = /for key '([^']+)'/.exec(message)?.[1]?.split('.').pop();
      return new UniqueViolationError([], key, { cause: error });
    }
    if (e?.errno === 1451 || e?.errno === 1452 || e?.errno === 1216 || e?.errno === 1217) {
      const constraint = /CONSTRAINT `([^`]+)`/.exec(message)?.[1];
      return new ForeignKeyViolationError(constraint, { cause: error });
    }
    if (e?.errno === 1048 || e?.errno === 1364) {
      return new ConstraintViolationError('not_null', /'([^']+)'/.exec(message)?.[1], { cause: error });
    }
    if (e?.errno === 3819 || e?.errno === 4025)
      return new ConstraintViolationError('check', undefined, { cause: error });
    if (e?.errno === 1292 || e?.errno === 1366 || e?.errno === 1406) {
      return new InvalidQueryError('A value has the wrong format or length for its column', { cause: error });
    }
    const code = typeof e?.code === 'string' ? e.code : '';
    // A deadlock: InnoDB rolled this whole transaction back. Running it again normally succeeds, so a unit of work
    // retries itself (TransactionConflictError); a caller sees 503 + Retry-After only if that keeps failing.
    if (code === 'ER_LOCK_DEADLOCK' || e?.errno === 1213) {
      return new TransactionConflictError(undefined, { cause: error });
    }
    if (code === 'QUERY_TIMEOUT' || code === 'ACQUIRE_TIMEOUT') {
      return new DatabaseUnavailableError(`MySQL/MariaDB: ${message}`, { cause: error });
    }
    if (typeof e?.errno === 'number' && PERMANENT_ERRNOS.has(e.errno)) {
      return new DatabaseUnavailableError('MySQL/MariaDB unavailable', { cause: error });
    }
    if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_MESSAGES.test(message) || (e?.fatal === true && !e?.errno)) {
      return new DatabaseUnavailableError('MySQL/MariaDB unavailable', { cause: error });
    }
    return undefined;
  },

  isPermanentError(error) {
    const errno = (error as { errno?: unknown })?.errno;
    return typeof errno === 'number' && PERMANENT_ERRNOS.has(errno);
  },

  // Deep pages from the far end, counted first in the same transaction: see Dialect.fromTheEndInTwoSteps.
  fromTheEndInTwoSteps: true,
  encodeBoolean: (value) => value,
  // mysql2 writes a Date as UTC 'YYYY-MM-DD HH:MM:SS.mmm' with timezone 'Z'; an ISO string with 'T...Z' is
  // rejected by strict mode.
  encodeTimestamp: (iso) => new Date(iso),
  // MySQL 8 and MariaDB 10.6+. InnoDB locks rows as it reads them, before a sort: an order no index serves
  // locks every matching row, not only the `limit` returned (see Repository.claim).
  lockForClaim: (query) => query.forUpdate().skipLocked(),

  async withMigrationLock(kysely, fn) {
    // GET_LOCK belongs to the session, so lock, migrate and unlock on one connection.
    return withQueryTimeout(0, () =>
      kysely.connection().execute(async (conn) => {
        const got = await sql<{
          l: number | null;
        }>`select get_lock(${MIGRATION_LOCK_NAME}, ${MIGRATION_LOCK_WAIT_SECONDS}) as l`.execute(conn);
        if (got.rows[0]?.l !== 1) throw new Error('Timed out waiting for another process to finish migrating');
        try {
          return await fn(conn);
        } finally {
          await sql`select release_lock(${MIGRATION_LOCK_NAME})`.execute(conn);
        }
      }),
    );
  },

  // No index serves LIKE '%term%' here; `contains` scans (see Dialect.createSubstringIndex). InnoDB FULLTEXT's
  // ngram parser is MySQL's only, not MariaDB's. A trigram side table kept by triggers was not built: LIKE under
  // the default collation (utf8mb4_general_ci) also matches across accents ('emi' finds 'Émile'), which trigrams
  // of lower(column) would miss, and filling it at 1M users means ~60M rows. Measured at 1M users (seed --users
  // 1000000, load average 7-9 on 2 cores): the service's search for the bench's common 3-4 character terms 19 ms
  // p50 (the scan in key order stops at the page), but a rare term scans the whole table: 2.9-3.8 s for the page
  // alone, so page + count passes the 5 s query timeout.
  async createSubstringIndex() {},
  async dropSubstringIndex() {},
  async dropIndex(db, name, table) {
    await sql`drop index ${sql.id(name)} on ${sql.table(table)}`.execute(db);
  },

  async analyze(db, table) {
    // Answers with a result set (Table, Op, Msg_type, Msg_text) rather than an error when something is wrong.
    const { rows } = await sql<{ Msg_type: string; Msg_text: string }>`analyze table ${sql.table(table)}`.execute(db);
    const failed = rows.find((row) => String(row.Msg_type).toLowerCase() === 'error');
    if (failed) throw new Error(`ANALYZE TABLE ${table}: ${failed.Msg_text}`);
  },

  alterColumn: alterMysqlColumn,
  introspect: introspectMysql,
  bulkLoad: (kysely, _url, _pool, load) => mysqlBulkLoad(kysely, (db) => mysqlDialect.analyze(db, load.table), load),

  async withScratchSchema(url, pool, fn) {
    if (url.kind !== 'mysql') throw new Error('mysql dialect needs a mysql URL');
    const name = `${url.database}_check_${process.pid}_${Date.now()}`.slice(0, 64);
    const one = { ...pool, size: 1, maxOverflow: 0 };
    const admin = new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool(url, one) }) });
    await sql`create database ${sql.id(name)}`.execute(admin);
    const kysely = new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool(url, one, name) }) });
    try {
      return await fn(kysely);
    } finally {
      await kysely.destroy();
      await sql`drop database ${sql.id(name)}`.execute(admin);
      await admin.destroy();
    }
  },
};
