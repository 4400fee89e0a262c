import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { ParsedDatabaseUrl } from '../database-url.js';
import {
  ConstraintViolationError,
  DatabaseUnavailableError,
  type DataError,
  ForeignKeyViolationError,
  InvalidQueryError,
  UniqueViolationError,
} from '../errors.js';
import { buildSnapshot, type IndexRow } from '../migrations/schema-snapshot.js';
import type { Dialect, PoolOptions } from './dialect.js';

// Any stable 64-bit number; every process migrating this database takes the same advisory lock.
const MIGRATION_LOCK_KEY = 7_242_019_113;

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '53000',
]);
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|connection error|Cannot use a pool after calling end|the database system is (starting up|shutting down)/i;

function createPool(url: ParsedDatabaseUrl, pool: PoolOptions, searchPath?: string): pg.Pool {
  if (url.kind !== 'postgres') throw new Error('postgres dialect needs a postgres URL');
  const p = new pg.Pool({
    host: url.host,
    port: url.port,
    user: url.user,
    password: url.password,
    database: url.database,
    ssl:
      url.params.sslmode && url.params.sslmode !== 'disable'
        ? { rejectUnauthorized: url.params.sslmode === 'verify-full' }
        : undefined,
    max: pool.size + pool.maxOverflow,
    idleTimeoutMillis: pool.idleTimeoutMs,
    connectionTimeoutMillis: pool.acquireTimeoutMs,
    options: searchPath ? `-c search_path=${searchPath},public` : undefined,
  });
  // An idle client whose server went away emits 'error' on the pool; without a listener it would crash the
  // process. The pool drops that client and opens a new one on the next query, which is how it recovers.
  p.on('error', () => {});
  // A checked-out client whose socket dies emits 'error' too, after its query has already failed; that second
  // report has no listener of the pool's and would crash the process.
  p.on('connect', (client) => client.on('error', () => {}));
  return p;
}

export const postgresDialect: Dialect = {
  kind: 'postgres',
  transactionalDdl: true,
  types: {
    uuid: 'uuid',
    string: (length) => `varchar(${length})`,
    text: 'text',
    boolean: 'boolean',
    integer: 'integer',
    bigint: 'bigint',
    timestamp: 'timestamptz(3)',
  },

  connect(url, pool) {
    const kysely = new Kysely<any>({ dialect: new PostgresDialect({ pool: createPool(url, pool) }) });
    return { kysely, close: () => kysely.destroy() };
  },

  mapError(error): DataError | undefined {
    const e = error as { code?: unknown; constraint?: string; detail?: string; column?: string; message?: string };
    const code = typeof e?.code === 'string' ? e.code : undefined;
    if (code === '23505') {
      // detail: 'Key (email)=(a@b.c) already exists.' (the value is not copied anywhere, it may be personal data)
      const columns = /^Key \(([^)]*)\)=/.exec(e.detail ?? '')?.[1]?.split(', ') ?? [];
      return new UniqueViolationError(columns, e.constraint, { cause: error });
    }
    if (code === '23503') return new ForeignKeyViolationError(e.constraint, { cause: error });
    if (code === '23502') return new ConstraintViolationError('not_null', e.column, { cause: error });
    if (code === '23514') return new ConstraintViolationError('check', undefined, { cause: error });
    if (code === '22P02' || code === '22007' || code === '22008') {
      return new InvalidQueryError('A value has the wrong format for its column', { cause: error });
    }
    if (
      (code && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) ||
      UNAVAILABLE_MESSAGES.test(e?.message ?? '')
    ) {
      return new DatabaseUnavailableError('PostgreSQL unavailable', { cause: error });
    }
    return undefined;
  },

  encodeBoolean: (value) => value,
  encodeTimestamp: (iso) => iso,

  async withMigrationLock(kysely, fn) {
    // The transaction-scoped advisory lock is released by COMMIT or ROLLBACK, never left behind.
    return kysely.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`.execute(trx);
      return fn(trx);
    });
  },

  async createSubstringIndex(db, name, table, column) {
    // pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
    await sql`create extension if not exists pg_trgm`.execute(db);
    // fastupdate=off: with GIN's pending list on, rows written since the last VACUUM are scanned linearly and
    // the planner falls back to a sequential scan (measured: 3.8 ms -> 103 ms per search after 5 s of updates).
    // Writing into the index directly costs a little on each insert instead.
    await sql`create index ${sql.id(name)} on ${sql.table(table)}
      using gin (lower(${sql.ref(column)}) gin_trgm_ops) with (fastupdate = off)`.execute(db);
  },

  async dropSubstringIndex(db, name) {
    await sql`drop index if exists ${sql.id(name)}`.execute(db);
  },

  async introspect(kysely) {
    const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(kysely)).rows[0]?.s;
    const rows = await sql<IndexRow>`
      select t.relname as "table", i.relname as name, a.attname as "column", ix.indisunique as "unique"
      from pg_index ix
      join pg_class i on i.oid = ix.indexrelid
      join pg_class t on t.oid = ix.indrelid
      join pg_namespace n on n.oid = t.relnamespace
      join lateral unnest(ix.indkey) with ordinality as k(attnum, ord) on true
      join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum
      where n.nspname = current_schema() and not ix.indisprimary
      order by t.relname, i.relname, k.ord`.execute(kysely);
    return buildSnapshot(kysely, rows.rows, schema);
  },

  async withScratchSchema(url, pool, fn) {
    const name = `migrate_check_${process.pid}_${Date.now()}`;
    const admin = createPool(url, { ...pool, size: 1, maxOverflow: 0 });
    await admin.query(`create schema "${name}"`);
    const kysely = new Kysely<any>({
      dialect: new PostgresDialect({ pool: createPool(url, { ...pool, size: 1, maxOverflow: 0 }, name) }),
    });
    try {
      return await fn(kysely);
    } finally {
      await kysely.destroy();
      await admin.query(`drop schema "${name}" cascade`);
      await admin.end();
    }
  },
};
