import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Database, QueryEvent, QueryObserver } from '@user-service/data';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PasswordHasher } from '../auth/password-hasher.js';
import {
  type CountCacheMessage,
  countCacheChannel,
  type LoginMessage,
  loginChannel,
  type PasswordHashMessage,
  passwordHashChannel,
  type RedisCommandMessage,
  type RedisStateMessage,
  redisCommandChannel,
  redisStateChannel,
  refreshReuseChannel,
  type SessionsRevokedMessage,
  sessionsRevokedChannel,
  type UserCacheMessage,
  userCacheChannel,
} from './channels.js';

/** Request latencies from a fast cached lookup (~1 ms) to a slow password hash under load (seconds). */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const QUERY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
const HASH_BUCKETS = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28];
/** A Redis round trip on loopback is ~0.1 ms; commands give up at 100 ms (cache/redis-connection.ts). */
const REDIS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

type Labels<T extends string> = Histogram<T>;
type Child = { observe(value: number): void };

/**
 * The service's Prometheus metrics, in a registry of its own (one per process). Built once at start when
 * metrics are on (METRICS_TOKEN or METRICS_PORT); with metrics off nothing here is loaded or counted.
 *
 * Hot-path cost is kept to a map lookup and an add per request and per query: labelled children are cached
 * by their label values, gauges that describe state (pool, hasher queue) are read only when scraped, and the
 * services' own events (logins, sessions, cache) arrive on diagnostics channels that cost nothing unwatched.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly requestDuration: Labels<'method' | 'route' | 'status_code'>;
  private readonly queryDuration: Labels<'operation' | 'table'>;
  private readonly queryErrors: Counter<'operation' | 'table'>;
  private readonly hashDuration: Labels<'operation'>;
  private readonly logins: Counter<'outcome'>;
  private readonly refreshReuse: Counter;
  private readonly sessionsRevoked: Counter<'reason'>;
  private readonly countCache: Counter<'result'>;
  private readonly userCache: Counter<'kind' | 'result'>;
  private readonly redisDuration: Labels<'command' | 'outcome'>;
  private readonly redisUp: Gauge;
  private readonly requestChildren = new Map<string, Child>();
  private readonly queryChildren = new Map<string, Child>();
  private readonly subscriptions: [string, (message: unknown) => void][] = [];
  private sources: { database?: Database; hasher?: PasswordHasher } = {};
  private requestsInFlight: () => number = () => 0;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requestDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by method, route template and status code, with their duration',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    const self = this;
    new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests received and not yet answered',
      registers,
      collect() {
        this.set(self.requestsInFlight());
      },
    });
    this.queryDuration = new Histogram({
      name: 'db_query_duration_seconds',
      help: 'Database statements by operation and table, with their duration (waiting for a connection excluded)',
      labelNames: ['operation', 'table'],
      buckets: QUERY_BUCKETS,
      registers,
    });
    this.queryErrors = new Counter({
      name: 'db_query_errors_total',
      help: 'Database statements that failed, by operation and table',
      labelNames: ['operation', 'table'],
      registers,
    });
    const pool = (name: string, help: string, read: (s: ReturnType<Database['poolStats']>) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const stats = self.sources.database?.poolStats();
          if (stats) this.set(read(stats));
        },
      });
    pool('db_pool_connections_in_use', 'Database connections held by a query or a transaction', (s) => s.inUse);
    pool('db_pool_connections_idle', 'Open database connections nobody holds', (s) => s.idle);
    pool('db_pool_waiting', 'Callers waiting for a database connection', (s) => s.waiting);
    pool('db_pool_connections_max', 'The most database connections the pool opens', (s) => s.max);
    const queue = (name: string, help: string, read: (q: { waiting: number; running: number }) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const q = self.sources.hasher?.queue();
          if (q) this.set(read(q));
        },
      });
    // Read replicas (DATABASE_REPLICA_URLS), labelled by their position in that list (no host names in labels).
    const replicas = () => self.sources.database?.replicaStatus() ?? [];
    new Gauge({
      name: 'db_replica_up',
      help: 'Whether a read replica is in the rotation (answers, is a standby, within DATABASE_REPLICA_MAX_LAG_MS)',
      labelNames: ['replica'],
      registers,
      aggregator: 'min',
      collect() {
        for (const [i, r] of replicas().entries()) this.set({ replica: String(i) }, r.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'db_replica_lag_seconds',
      help: 'How long ago the primary passed the position a read replica has replayed, at the last probe',
      labelNames: ['replica'],
      registers,
      aggregator: 'max',
      collect() {
        for (const [i, r] of replicas().entries()) {
          if (r.lagMs !== undefined) this.set({ replica: String(i) }, r.lagMs / 1000);
        }
      },
    });
    new Counter({
      name: 'db_replica_reads_total',
      help: 'Reads served by a read replica (the rest go to the primary)',
      labelNames: ['replica'],
      registers,
      collect() {
        this.reset();
        for (const [i, r] of replicas().entries()) this.inc({ replica: String(i) }, r.reads);
      },
    });
    queue('password_hash_queue_length', 'Password hashes and verifications waiting for a turn', (q) => q.waiting);
    queue('password_hash_running', 'Password hashes and verifications running now', (q) => q.running);
    this.hashDuration = new Histogram({
      name: 'password_hash_duration_seconds',
      help: 'Password hashing (hash) and verification (verify) work, queueing excluded',
      labelNames: ['operation'],
      buckets: HASH_BUCKETS,
      registers,
    });
    this.logins = new Counter({
      name: 'auth_login_attempts_total',
      help: 'Password logins by outcome: success, bad_credentials, inactive, unverified (REQUIRE_VERIFIED_EMAIL), locked_out (refused by a lockout)',
      labelNames: ['outcome'],
      registers,
    });
    this.refreshReuse = new Counter({
      name: 'auth_refresh_token_reuse_total',
      help: 'Refresh tokens presented again after their grace window (each ended its session)',
      registers,
    });
    this.sessionsRevoked = new Counter({
      name: 'auth_sessions_revoked_total',
      help: 'Sessions ended before their time, by reason (logout, password_changed, refresh_reuse, ...)',
      labelNames: ['reason'],
      registers,
    });
    this.countCache = new Counter({
      name: 'list_total_cache_lookups_total',
      help: "Lists' totals served from the count cache (hit) or counted in the database (miss)",
      labelNames: ['result'],
      registers,
    });
    this.userCache = new Counter({
      name: 'user_cache_lookups_total',
      help: 'Lookups in the Redis user cache (REDIS_URL) by key kind (id, email, username, session: the access check) and result: hit, miss (read from the database and filled), bypass (Redis unreachable: database only)',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.redisDuration = new Histogram({
      name: 'redis_command_duration_seconds',
      help: 'Redis commands and pipelines (get, mget, fill, tombstone, ratelimit, position) with their duration, by outcome (ok, error: failed or timed out)',
      labelNames: ['command', 'outcome'],
      buckets: REDIS_BUCKETS,
      registers,
    });
    this.redisUp = new Gauge({
      name: 'redis_up',
      help: 'Whether Redis (REDIS_URL) is reachable and in use: 1, or 0 (unreachable, or not configured)',
      registers,
      // With WORKERS > 1 the scrape is the cluster's: 1 only when every worker reaches Redis (not the sum).
      aggregator: 'min',
    });
    // Zero series up front, so a dashboard shows 0 rather than "no data" before the first event.
    for (const outcome of ['success', 'bad_credentials', 'inactive', 'unverified', 'locked_out'])
      this.logins.inc({ outcome }, 0);
    for (const result of ['hit', 'miss']) this.countCache.inc({ result }, 0);
    this.refreshReuse.inc(0);
    for (const kind of ['id', 'email', 'username', 'session'])
      for (const result of ['hit', 'miss', 'bypass']) this.userCache.inc({ kind, result }, 0);
    this.redisUp.set(0);

    this.listen(loginChannel.name as string, (m) => this.logins.inc({ outcome: (m as LoginMessage).outcome }));
    this.listen(refreshReuseChannel.name as string, () => this.refreshReuse.inc());
    this.listen(sessionsRevokedChannel.name as string, (m) => {
      const { reason, count } = m as SessionsRevokedMessage;
      this.sessionsRevoked.inc({ reason }, count);
    });
    this.listen(countCacheChannel.name as string, (m) =>
      this.countCache.inc({ result: (m as CountCacheMessage).hit ? 'hit' : 'miss' }),
    );
    this.listen(userCacheChannel.name as string, (m) => {
      const { kind, result } = m as UserCacheMessage;
      this.userCache.inc({ kind, result });
    });
    this.listen(redisCommandChannel.name as string, (m) => {
      const { command, durationMs, ok } = m as RedisCommandMessage;
      this.redisDuration.observe({ command, outcome: ok ? 'ok' : 'error' }, durationMs / 1000);
    });
    this.listen(redisStateChannel.name as string, (m) => this.redisUp.set((m as RedisStateMessage).up ? 1 : 0));
    this.listen(passwordHashChannel.name as string, (m) => {
      const { operation, durationMs } = m as PasswordHashMessage;
      this.hashDuration.observe({ operation }, durationMs / 1000);
    });
  }

  /** The database and hasher whose state the gauges read at scrape time (known once they are open). */
  observe(sources: { database: Database; hasher: PasswordHasher }): void {
    this.sources = sources;
  }

  /** Times every statement (given to openRuntime's queryObservers). */
  readonly onQuery: QueryObserver = (event: QueryEvent) => {
    const table = event.table ?? '';
    const key = `${event.operation}\0${table}`;
    let child = this.queryChildren.get(key);
    if (!child) {
      child = this.queryDuration.labels(event.operation, table);
      this.queryChildren.set(key, child);
    }
    child.observe(event.durationMs / 1000);
    if (event.error !== undefined) this.queryErrors.inc({ operation: event.operation, table });
  };

  /** Where the in-flight gauge reads its value when scraped. */
  countRequestsInFlight(count: () => number): void {
    this.requestsInFlight = count;
  }

  /** One answered request; `route` is the template (`/api/v1/users/:id`), never the concrete path. */
  requestAnswered(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    let child = this.requestChildren.get(key);
    if (!child) {
      child = this.requestDuration.labels(method, route, String(status));
      this.requestChildren.set(key, child);
    }
    child.observe(seconds);
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /** Stops listening to the services' channels (tests build several apps in one process). */
  close(): void {
    for (const [name, listener] of this.subscriptions) unsubscribe(name, listener);
    this.subscriptions.length = 0;
  }

  private listen(name: string, listener: (message: unknown) => void): void {
    subscribe(name, listener);
    this.subscriptions.push([name, listener]);
  }
}
