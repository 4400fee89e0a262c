import { createHash } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { ParsedDatabaseUrl } from '../database-url.js';
import {
  ConstraintViolationError,
  DatabaseUnavailableError,
  DatabaseUrlError,
  type DataError,
  ForeignKeyViolationError,
  InvalidQueryError,
  TransactionConflictError,
  UniqueViolationError,
} from '../errors.js';
import { kyselyConnection } from './connection.js';
import type { Dialect, PoolOptions } from './dialect.js';
import { NETWORK_ERROR_CODES } from './network-errors.js';
import { postgresBulkLoad } from './postgres-bulk-load.js';
import { postgresReplication } from './postgres-replication.js';
import { alterPostgresColumn, introspectPostgres } from './postgres-schema.js';
import { postgresContains, postgresSubstringIndexServes } from './postgres-substring.js';
import { QueryTimeoutError, queryTimeoutFor, withQueryTimeout } from './query-timeout.js';

// Any stable 64-bit number; every process migrating this database takes the same advisory lock.
const MIGRATION_LOCK_KEY = 7_242_019_113;

const UNAVAILABLE_CODES = new Set([
  ...NETWORK_ERROR_CODES,
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '53000',
  // query_canceled: our own cancel after a query timeout, or an administrator's pg_cancel_backend
  '57014',
  'QUERY_TIMEOUT',
]);
// deadlock_detected, serialization_failure: two transactions locked rows in opposite orders (or conflicted);
// the server rolled one back. Nothing is half-done and trying again succeeds: a unit of work runs itself again
// (TransactionConflictError), and only when that keeps failing does the caller see 503 + Retry-After.
const CONFLICT_CODES = new Set(['40P01', '40001']);
// Connecting cannot succeed by retrying: the database does not exist (3D000), the password or the role is
// refused (28P01, 28000: also "no pg_hba.conf entry"). Met later (the database dropped, the password changed),
// they make the database unavailable like an outage does.
const REFUSED_CODES = new Set(['3D000', '28P01', '28000']);
// ... and, while connecting only, the role may not connect to this database (42501; on a query it is a
// missing grant, not an outage).
const PERMANENT_CODES = new Set([...REFUSED_CODES, '42501']);
const PERMANENT_MESSAGES = /client password must be a string|does not support SSL|SASL: /i;
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|connection error|Cannot use a pool after calling end|the database system is (starting up|shutting down)/i;

/** How long a best-effort cancel request may take (it goes to the same, possibly frozen, server). */
const CANCEL_TIMEOUT_MS = 2_000;
/** Cancel connections to a pooler that may be open at once, per process (see sendCancel). */
const MAX_POOLED_CANCELS = 64;
let pooledCancels = 0;
const noop = () => {};

/**
 * Whether DATABASE_URL says a pooler in transaction mode (PgBouncer) is in front: `?pgbouncer=true`. Undefined
 * when the URL does not say; the pool then finds out from its first connection (see detectPooler).
 */
function pgbouncerOption(url: ParsedDatabaseUrl): boolean | undefined {
  if (url.kind !== 'postgres' || url.params.pgbouncer === undefined) return undefined;
  const value = url.params.pgbouncer.toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new DatabaseUrlError(`DATABASE_URL option pgbouncer must be true or false, not "${url.params.pgbouncer}"`);
}

/**
 * Asks the server to cancel a backend's running query: PostgreSQL's CancelRequest, a 16-byte packet on a new
 * connection (what libpq's PQcancel sends). Errors are ignored: the query has already failed for its caller.
 *
 * Like libpq, the sender writes the packet and waits for the receiver to close the connection (not `end`: a
 * half-close made PgBouncer 1.18 drop the cancel, "client unexpected eof", and the query ran on). Straight to
 * PostgreSQL, a receiver that does not close within CANCEL_TIMEOUT_MS (a frozen server) is given up on. To a
 * pooler (`pooled`) the connection is never closed from this side: PgBouncer 1.18 exits with "FATAL ...
 * disconnect_client(): bad client state: 0" (pgbouncer issue #801) when a cancel sender goes away before the
 * server it forwarded the cancel to has answered; reproduced here with a frozen server behind it. The socket
 * is unref'd, so it never keeps the process alive, and PgBouncer closes it once the server answers.
 */
export function sendCancel(host: string, port: number, processId: number, secretKey: number, pooled: boolean): void {
  // Never closed from this side, a pooler's cancel connections would pile up without bound while the pooler (or
  // the server behind it) stays frozen: one per timed-out query. Past MAX_POOLED_CANCELS open, no cancel is sent
  // (the query timed out for its caller all the same; it runs on until the server ends it).
  if (pooled && pooledCancels >= MAX_POOLED_CANCELS) return;
  const socket = host.startsWith('/') ? netConnect(`${host}/.s.PGSQL.${port}`) : netConnect(port, host);
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80_877_102, 4);
  packet.writeInt32BE(processId, 8);
  packet.writeInt32BE(secretKey, 12);
  socket.on('error', () => {});
  if (pooled) {
    pooledCancels++;
    socket.once('close', () => pooledCancels--);
    socket.unref();
  } else socket.setTimeout(CANCEL_TIMEOUT_MS, () => socket.destroy());
  socket.write(packet);
}

/** Cancel connections to a pooler that are still open (see sendCancel); for tests. */
export function pooledCancelsOpen(): number {
  return pooledCancels;
}

interface PgClientInternals {
  host: string;
  port: number;
  processID: number | null;
  secretKey: number | null;
  /** pg-pool discards a released client that is not queryable (pg-pool 3.x `_release`). */
  _queryable: boolean;
  /** pg's own record of the statements this connection has prepared, by name (pg 8 `Connection`). */
  connection: { stream: { destroy(): void }; parsedStatements: Record<string, string> };
  /** 'I' idle, 'T' in a transaction, 'E' in a failed transaction: from the last ReadyForQuery (pg 8). */
  getTransactionStatus(): string | null;
}

/**
 * Named (server-side prepared) statements a connection keeps at most. A statement is parsed and planned once per
 * connection and then only bound and executed; the service's queries are a few dozen texts, but texts that vary
 * (an IN list of each length) would otherwise prepare without end: past the cap, new texts run unnamed.
 */
const MAX_NAMED_STATEMENTS = 256;
/** Only plain DML is named: DDL (migrations) is run once and must see the schema it changes. */
const NAMEABLE = /^\s*(select|insert|update|delete|with)\s/i;
/**
 * feature_not_supported "cached plan must not change result type": a statement prepared before a migration
 * changed the columns it returns (`returning *`, a table's column type). The server keeps refusing that name.
 */
const STALE_PLAN = '0A000';

function isStalePlan(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return e?.code === STALE_PLAN && typeof e.message === 'string' && /cached plan/i.test(e.message);
}

/**
 * A pg client whose queries are bounded by the pool's `queryTimeoutMs` (see PoolOptions). pg's own
 * `query_timeout` is not enough: it fails the caller but leaves the client in the pool with its query still
 * outstanding, so the next caller queues behind a query a frozen server will never answer. Here a query that
 * times out is cancelled on the server (best effort: on a live server it stops the work, on a frozen one the
 * request waits in the socket until it thaws), its socket is destroyed, and the client is marked unusable
 * so that pg-pool drops it when it is released instead of handing it out again.
 *
 * Through PgBouncer the cancel goes to the pooler, which forwards it to the server connection that the client's
 * connection is linked to at that moment. Closing the client's socket first (here, or pg-pool's end() of the
 * unusable client) unlinks them: the cancel finds no client and is dropped, and the query runs on (measured: a
 * pg_sleep(4) that timed out after 0.5 s was still active on the server 2 s later). So with a pooler
 * (`pooled()`), the socket is closed only once the server has answered the cancelled query (or after
 * CANCEL_TIMEOUT_MS), and end() waits for that too. Without one, it is closed at once as before: PostgreSQL acts
 * on a cancel whatever happens to the client's socket.
 */
function boundedClient(defaultTimeoutMs: number, pooled: () => boolean): typeof pg.Client {
  return class BoundedClient extends pg.Client {
    /** Statement name by SQL text, for the statements this connection has named (see MAX_NAMED_STATEMENTS). */
    private readonly names = new Map<string, string>();
    /** Bumped when the server refuses a stale plan: the old names stay taken on the server. */
    private generation = 0;
    /** Statements of earlier generations, still held by the server: they count towards the cap. */
    private abandoned = 0;

    override query(...args: unknown[]): any {
      const name = this.statementName(args);
      const result =
        name === undefined
          ? (super.query as (...a: unknown[]) => unknown)(...args)
          : this.named(name, args[0] as string, args[1] as unknown[] | undefined);
      const ms = queryTimeoutFor(defaultTimeoutMs);
      // The callback and cursor forms (not used by Kysely's queries) return no promise and pass through.
      if (!ms || !(result instanceof Promise)) return result;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          this.abandon(result);
          reject(new QueryTimeoutError(ms));
        }, ms);
      });
      return Promise.race([result, timeout]).finally(() => clearTimeout(timer));
    }

    /**
     * The name to prepare Kysely's query under (`query(text, values)`), or undefined to run it unnamed: behind a
     * pooler in transaction mode, or before the pool knows whether one is there (`pooled()` is true until then),
     * since consecutive transactions may run on different server connections that never saw the statement
     * (PgBouncer 1.18 forwards Parse/Bind as they come: "prepared statement ... does not exist").
     */
    private statementName(args: unknown[]): string | undefined {
      const text = args[0];
      if (typeof text !== 'string' || args.length > 2 || (args.length === 2 && !Array.isArray(args[1]))) return;
      const known = this.names.get(text);
      if (known !== undefined) return pooled() ? undefined : known;
      if (pooled() || this.names.size + this.abandoned >= MAX_NAMED_STATEMENTS || !NAMEABLE.test(text)) return;
      const name = `k${this.generation}_${createHash('sha1').update(text).digest('base64url')}`;
      this.names.set(text, name);
      return name;
    }

    private async named(name: string, text: string, values: unknown[] | undefined): Promise<unknown> {
      const run = super.query.bind(this) as (query: unknown, values?: unknown[]) => Promise<unknown>;
      try {
        return await run({ name, text, values });
      } catch (error) {
        if (!isStalePlan(error)) throw error;
        // Forget every name: the schema changed, other statements may be stale too. New names are prepared
        // afresh (the old ones cannot be reused: the server still holds them, DEALLOCATE is refused inside a
        // failed transaction).
        const self = this as unknown as PgClientInternals;
        for (const old of this.names.values()) delete self.connection.parsedStatements[old];
        this.abandoned += this.names.size;
        this.names.clear();
        this.generation++;
        // Outside a transaction nothing else failed with it: run it again, planned now. Inside one the transaction
        // is aborted; mapError makes that a retryable unavailability.
        if (self.getTransactionStatus() !== 'I') throw error;
        return run(text, values);
      }
    }

    /** Set while a cancelled query's answer is awaited through a pooler: end() waits for it. */
    private settling: Promise<void> | undefined;

    private abandon(query: Promise<unknown>): void {
      const self = this as unknown as PgClientInternals;
      self._queryable = false;
      if (self.processID !== null && self.secretKey !== null) {
        sendCancel(self.host, self.port, self.processID, self.secretKey, pooled());
      }
      if (!pooled()) {
        self.connection.stream.destroy();
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CANCEL_TIMEOUT_MS);
      });
      this.settling = Promise.race([query.then(noop, noop), bound]).finally(() => clearTimeout(timer));
      // Closed then even when nobody ends this client.
      void this.settling.then(() => self.connection.stream.destroy());
    }

    override end(...args: unknown[]): any {
      const settling = this.settling;
      if (!settling) return (super.end as (...a: unknown[]) => unknown)(...args);
      const ended = settling.then(() => (super.end as () => Promise<void>)());
      const callback = args[0];
      if (typeof callback !== 'function') return ended;
      ended.then(
        () => callback(),
        (error: unknown) => callback(error),
      );
      return undefined;
    }
  };
}

/**
 * Learns whether a pooler sits between this pool and PostgreSQL, from the first connection: PgBouncer hands its
 * clients a cancel key of its own (BackendKeyData), so the process id the client was given is not the server
 * backend's `pg_backend_pid()`; straight to PostgreSQL they are equal. Until that answer is in, a pooler is
 * assumed (the safe choice for cancels, see boundedClient).
 */
function detectPooler(p: pg.Pool, found: (pooled: boolean) => void): void {
  p.once('connect', (client) => {
    const given = (client as unknown as PgClientInternals).processID;
    client.query('select pg_backend_pid() as pid').then(
      (result: pg.QueryResult<{ pid: number }>) => found(result.rows[0]?.pid !== given),
      () => {
        // Unknown for now: ask again on the next new connection.
        detectPooler(p, found);
      },
    );
  });
}

function createPool(url: ParsedDatabaseUrl, pool: PoolOptions): pg.Pool {
  if (url.kind !== 'postgres') throw new Error('postgres dialect needs a postgres URL');
  // ?pgbouncer=true|false states it; without the option it is detected. Nothing else in this dialect needs
  // session state: prepared statements are named only without a pooler (see statementName), advisory locks and
  // SET LOCAL transaction-scoped, no LISTEN, no temporary tables (the scratch schema of `migrate check` lives in
  // one transaction).
  let pooled = pgbouncerOption(url);
  const p = new pg.Pool({
    Client: boundedClient(pool.queryTimeoutMs, () => pooled ?? true),
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
    // Bounds both the wait for a free client and the opening of a new one: on timeout pg-pool destroys the
    // socket of a connection whose server never answers the start-up (a frozen server still accepts TCP).
    connectionTimeoutMillis: pool.acquireTimeoutMs,
  });
  if (pooled === undefined) {
    detectPooler(p, (found) => {
      pooled = found;
    });
  }
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
    key: (length) => `varchar(${length})`,
    text: 'text',
    boolean: 'boolean',
    integer: 'integer',
    bigint: 'bigint',
    timestamp: 'timestamptz(3)',
  },

  connect(url, pool, options) {
    const p = createPool(url, pool);
    return kyselyConnection(new PostgresDialect({ pool: p }), { max: p.options.max, idle: () => p.idleCount }, options);
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
    if (code && CONFLICT_CODES.has(code)) return new TransactionConflictError(undefined, { cause: error });
    if (code === 'QUERY_TIMEOUT') return new DatabaseUnavailableError(`PostgreSQL: ${e.message}`, { cause: error });
    // A named statement prepared before a migration, inside a transaction (outside one it is re-run, see
    // boundedClient): the connection has forgotten it, so trying again succeeds.
    if (isStalePlan(error)) return new DatabaseUnavailableError('PostgreSQL schema changed', { cause: error });
    if (
      (code && (UNAVAILABLE_CODES.has(code) || REFUSED_CODES.has(code) || code.startsWith('08'))) ||
      UNAVAILABLE_MESSAGES.test(e?.message ?? '')
    ) {
      return new DatabaseUnavailableError('PostgreSQL unavailable', { cause: error });
    }
    return undefined;
  },

  isPermanentError(error) {
    const e = error as { code?: unknown; message?: unknown };
    return (
      (typeof e?.code === 'string' && PERMANENT_CODES.has(e.code)) ||
      (typeof e?.message === 'string' && PERMANENT_MESSAGES.test(e.message))
    );
  },

  replication: postgresReplication,
  updateReturning: true,
  encodeBoolean: (value) => value,
  encodeTimestamp: (iso) => iso,
  // Row locks are taken after ORDER BY and LIMIT are applied, so only the rows returned are locked.
  lockForClaim: (query) => query.forUpdate().skipLocked(),

  async withMigrationLock(kysely, fn) {
    // The transaction-scoped advisory lock is released by COMMIT or ROLLBACK, never left behind.
    return withQueryTimeout(0, () =>
      kysely.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`.execute(trx);
        return fn(trx);
      }),
    );
  },

  async createSubstringIndex(db, name, table, column, options) {
    // pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
    await sql`create extension if not exists pg_trgm`.execute(db);
    // fastupdate=off: with GIN's pending list on, rows written since the last VACUUM are scanned linearly and
    // the planner falls back to a sequential scan (measured: 3.8 ms -> 103 ms per search after 5 s of updates).
    // Writing into the index directly costs a little on each insert instead.
    const ifMissing = options?.ifMissing ? sql`if not exists` : sql``;
    await sql`create index ${ifMissing} ${sql.id(name)} on ${sql.table(table)}
      using gin (lower(${sql.ref(column)}) gin_trgm_ops) with (fastupdate = off)`.execute(db);
  },

  async dropSubstringIndex(db, name) {
    await sql`drop index if exists ${sql.id(name)}`.execute(db);
  },
  // A rare term is served by the index explicitly (postgres-substring.ts); a common one by the LIKE as it is.
  containsCondition: postgresContains,
  substringIndexServes: postgresSubstringIndexServes,

  async dropIndex(db, name) {
    await sql`drop index if exists ${sql.id(name)}`.execute(db);
  },

  async analyze(db, table) {
    await sql`analyze ${sql.table(table)}`.execute(db);
  },

  alterColumn: alterPostgresColumn,
  introspect: introspectPostgres,
  bulkLoad: (kysely, url, pool, load) =>
    postgresBulkLoad(kysely, () => createPool(url, { ...pool, size: 1, maxOverflow: 0 }), load),

  async withScratchSchema(url, pool, fn) {
    const name = `migrate_check_${process.pid}_${Date.now()}`;
    // One transaction that is rolled back: the scratch schema, and everything the replayed migrations create in
    // it, vanish with the rollback, even if this process dies meanwhile. The search_path is set with SET LOCAL
    // inside it, not as a start-up option (options=-c search_path=...), which PgBouncer refuses ("unsupported
    // startup parameter: options") and which transaction pooling could not keep across transactions anyway.
    const kysely = new Kysely<any>({
      dialect: new PostgresDialect({ pool: createPool(url, { ...pool, size: 1, maxOverflow: 0 }) }),
    });
    try {
      const trx = await kysely.startTransaction().execute();
      try {
        await sql`create schema ${sql.id(name)}`.execute(trx);
        await sql`set local search_path to ${sql.id(name)}, public`.execute(trx);
        return await fn(trx);
      } finally {
        // A failed rollback means a lost connection: nothing was committed either way, and the error that
        // matters is fn's.
        await trx
          .rollback()
          .execute()
          .catch(() => {});
      }
    } finally {
      await kysely.destroy();
    }
  },
};
