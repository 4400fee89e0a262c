import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
} from 'kysely';
import {
  ConstraintViolationError,
  DatabaseUnavailableError,
  type DataError,
  ForeignKeyViolationError,
  MigrationError,
  UniqueViolationError,
} from '../errors.js';
import { kyselyConnection } from './connection.js';
import type { Dialect, PoolOptions } from './dialect.js';
import { sqliteBulkLoad } from './sqlite-bulk-load.js';
import { introspectSqlite } from './sqlite-schema.js';
import {
  createSqliteSubstringIndex,
  dropSqliteSubstringIndex,
  sqliteContains,
  sqliteSubstringIndexServes,
} from './sqlite-substring.js';

/**
 * Units of work begin with BEGIN IMMEDIATE, which takes the file's write lock at once, instead of Kysely's plain
 * BEGIN (deferred). A deferred transaction that reads before it writes (a unit of work that looks at a row, then
 * changes it; a claim) holds a read snapshot; if another process commits in between, its first write cannot
 * upgrade and fails at once with SQLITE_BUSY, without waiting (the busy timeout does not apply to a stale
 * snapshot). Measured: 12 concurrent PATCHes of one user over WORKERS=2 got 329 503s in 1266 requests. Taking
 * the lock first, a second process waits its turn (busy_timeout): SQLite's single writer, in order.
 */
class WriterFirstSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class WriterFirstSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: SqliteDialectConfig) {
    super(settings);
  }

  override createDriver(): Driver {
    return new WriterFirstSqliteDriver(this.settings);
  }
}

// Which better-sqlite3: 12 is built on node::ObjectWrap, which since Node 24.19 aborts the process ("Assertion
// failed: (env) != nullptr" in RemoveEnvironmentCleanupHook) when the garbage collector frees a statement outside
// JavaScript: the test suite died of it on Node 24. 13 (Node-API, the same API, binaries in the package) does
// not, but needs Node 22 and crashes on Node 20. So 13 on Node 22 and later, 12 on Node 20 (CI machines' Node).
const BetterSqlite3: typeof Database = createRequire(import.meta.url)(
  Number(process.versions.node.split('.')[0]) >= 22 ? 'better-sqlite3-13' : 'better-sqlite3',
);

function openSqlite(filename: string, pool: PoolOptions): Database.Database {
  if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
  // No query timeout here (PoolOptions.queryTimeoutMs): better-sqlite3 runs each statement synchronously in
  // this process, so there is no server that could freeze and no way to interrupt a statement. The one wait
  // that depends on anything else, the file lock held by another process, is bounded by busy_timeout.
  const db = new BetterSqlite3(filename, { timeout: pool.busyTimeoutMs });
  // WAL lets readers proceed while one writer writes; NORMAL sync is safe in WAL mode and much faster.
  if (filename !== ':memory:') db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // SQLite's own lower() folds ASCII letters only, so `contains` (lower(column) LIKE the lower-cased term) never
  // found 'Émile' for 'émile' or 'ÉMILE', where PostgreSQL and MariaDB do. JavaScript's toLowerCase folds every
  // script as theirs does. Its cost shows only where a search scans (terms under 3 characters; longer ones go
  // through the FTS5 index and recheck only its candidates): a scan of 3 columns x 1M rows took 694 ms against
  // 276 ms with the built-in (an in-memory table of 1M rows, 2026-11-24).
  db.function('lower', { deterministic: true }, (value: unknown) =>
    typeof value === 'string' ? value.toLowerCase() : value,
  );
  return db;
}

/**
 * better-sqlite3 compiles a statement on every prepare() and Kysely prepares on every query. The SQL of a
 * repository call is the same each time (values are parameters), so compiled statements are kept, a few
 * hundred at most. Safe because better-sqlite3 runs a statement synchronously to completion.
 */
function withStatementCache(db: Database.Database, streams: OpenStreams, size = 256): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => db.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (!stmt) {
        stmt = countingIterations(db.prepare(text), streams);
        if (cache.size >= size) cache.delete(cache.keys().next().value as string);
        cache.set(text, stmt);
      }
      return stmt;
    },
  };
}

/** Iterators (Kysely's stream()) open on the connection right now: each holds a read snapshot. */
interface OpenStreams {
  count: number;
}

/** Counts the statement's open iterators in `streams` until each is finished or closed early. */
function countingIterations(stmt: Database.Statement, streams: OpenStreams): Database.Statement {
  const iterate = stmt.iterate.bind(stmt);
  stmt.iterate = function* counted(...params: unknown[]) {
    streams.count++;
    try {
      yield* iterate(...params);
    } finally {
      streams.count--;
    }
  } as Database.Statement['iterate'];
  return stmt;
}

/**
 * Database.changeStamp on SQLite: total_changes() counts every row this connection has inserted, updated or
 * deleted (triggers, cascades and REPLACE included, committed or not), and data_version moves when another
 * connection (another worker, the CLI) commits. Both are read in one statement without touching a table
 * (about a microsecond). No stamp inside a transaction of this connection, nor while one of its streams is
 * open: either holds a read snapshot, in which another connection's commit does not move data_version (and the
 * connection is lent to that work anyway). This connection's own DDL moves neither counter; rows are what the
 * stamp is for.
 */
function changeStampOf(db: Database.Database, streams: OpenStreams): () => string | undefined {
  const stamp = db.prepare('select total_changes(), data_version from pragma_data_version').raw();
  return () => {
    if (db.inTransaction || streams.count > 0 || !db.open) return undefined;
    try {
      const row = stamp.get() as [number, number];
      return `${row[0]}.${row[1]}`;
    } catch {
      // Closed in between, or any other refusal: no stamp, so nothing is served from what it would guard.
      return undefined;
    }
  };
}

const UNAVAILABLE = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_READONLY']);
// A file that cannot be opened, is not a database, or may not be read does not get better by waiting.
const PERMANENT = new Set(['SQLITE_CANTOPEN', 'SQLITE_NOTADB', 'SQLITE_PERM', 'SQLITE_AUTH', 'SQLITE_CORRUPT']);

export const sqliteDialect: Dialect = {
  kind: 'sqlite',
  transactionalDdl: true,
  types: {
    uuid: 'text',
    string: () => 'text',
    key: () => 'text',
    text: 'text',
    boolean: 'integer',
    integer: 'integer',
    bigint: 'integer',
    timestamp: 'text',
  },

  connect(url, pool, options) {
    if (url.kind !== 'sqlite') throw new Error('sqlite dialect needs a sqlite URL');
    // One connection, which Kysely lends to one query or transaction at a time.
    const db = openSqlite(url.filename, pool);
    const streams: OpenStreams = { count: 0 };
    const connection = kyselyConnection(
      new WriterFirstSqliteDialect({ database: withStatementCache(db, streams) }),
      { max: 1 },
      options,
    );
    return { ...connection, changeStamp: changeStampOf(db, streams) };
  },

  mapError(error): DataError | undefined {
    const code = (error as { code?: unknown })?.code;
    if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
    const message = (error as Error).message;
    // "UNIQUE constraint failed: users.email, users.username": SQLite names columns, not the constraint.
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      const columns = (message.split(': ')[1] ?? '')
        .split(', ')
        .map((c) => c.split('.').pop() ?? c)
        .filter(Boolean);
      return new UniqueViolationError(columns, undefined, { cause: error });
    }
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new ForeignKeyViolationError(undefined, { cause: error });
    if (code === 'SQLITE_CONSTRAINT_NOTNULL') {
      return new ConstraintViolationError('not_null', message.split('.').pop(), { cause: error });
    }
    if (code === 'SQLITE_CONSTRAINT_CHECK') return new ConstraintViolationError('check', undefined, { cause: error });
    if (UNAVAILABLE.has(code.replace(/^(SQLITE_[A-Z]+).*$/, '$1'))) {
      return new DatabaseUnavailableError(`SQLite database unavailable (${code})`, { cause: error });
    }
    return undefined;
  },

  isPermanentError(error) {
    const code = (error as { code?: unknown })?.code;
    return typeof code === 'string' && PERMANENT.has(code.replace(/^(SQLITE_[A-Z]+).*$/, '$1'));
  },

  // UPDATE ... RETURNING since SQLite 3.35 (better-sqlite3 bundles a later one).
  updateReturning: true,
  // Filtered offset pages as one plain SELECT: see Dialect.defersFilteredPages. The price is reading the skipped
  // rows whole: 0.28 ms per 1000 at 1M users, against the 170 ms sort it avoids.
  defersFilteredPages: false,
  // count(*) walks the smallest index's pages without stepping through its rows. With fewer rows than `skip` +
  // `take` left, the last page is shorter (min), and past the end empty (max 0).
  fromTheEnd: (rows, skip, take) => ({
    limit: sql<number>`max(0, min(${take}, ${rows} - ${skip}))`,
    offset: sql<number>`max(0, ${rows} - ${skip} - ${take})`,
  }),
  encodeBoolean: (value) => (value ? 1 : 0),
  // ISO strings with a fixed format sort in time order, so comparisons and keyset paging stay correct.
  encodeTimestamp: (iso) => iso,
  // No row locks, and no need within a process: its one connection runs one transaction at a time. Another
  // process's claim that commits between this one's SELECT and UPDATE makes the UPDATE fail (SQLITE_BUSY:
  // the WAL snapshot is stale), so the rows still go to one caller only.
  lockForClaim: (query) => query,

  async withMigrationLock(kysely, fn) {
    // BEGIN IMMEDIATE takes the file's write lock: a second process waits (busy timeout) and then sees the
    // finished migration. SQLite's DDL is transactional, so a failure rolls back every step of the run.
    return kysely.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const result = await fn(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (error) {
        await sql`rollback`.execute(conn);
        throw error;
      }
    });
  },

  // An FTS5 trigram table and its triggers (sqlite-substring.ts); `contains` names it (containsCondition).
  createSubstringIndex: (db, name, table, column, options) =>
    createSqliteSubstringIndex(db, name, table, column, options?.ifMissing),
  dropSubstringIndex: (db, name) => dropSqliteSubstringIndex(db, name),
  containsCondition: sqliteContains,
  substringIndexServes: sqliteSubstringIndexServes,
  async dropIndex(db, name) {
    await sql`drop index if exists ${sql.id(name)}`.execute(db);
  },

  async analyze(db, table) {
    await sql`analyze ${sql.table(table)}`.execute(db);
  },

  async alterColumn(_db, table, column) {
    throw new MigrationError(
      `SQLite cannot change column ${table}.${column} in place: rebuild the table in this migration by hand`,
      undefined,
    );
  },

  introspect: introspectSqlite,
  bulkLoad: (kysely, _url, _pool, load) => sqliteBulkLoad(kysely, load),

  async withScratchSchema(_url, pool, fn) {
    const kysely = new Kysely<any>({ dialect: new SqliteDialect({ database: openSqlite(':memory:', pool) }) });
    try {
      return await fn(kysely);
    } finally {
      await kysely.destroy();
    }
  },
};
