/**
 * Configuration from the environment (and an optional .env file), read and validated once at start-up.
 * A bad value stops the process with a message naming the variable.
 *
 * Hand-written on purpose, not env-schema (issue 8 weighed it): env-schema reports Ajv's words
 * ("env/PORT must be <= 65535", "env/LOG_LEVEL must be equal to one of the allowed values") without the value
 * given or the values allowed, accepts only Ajv's boolean spellings (not yes/on/no/off), and has no place for
 * the defaults that depend on other variables (MIGRATE_ON_START on DATABASE_URL's kind, the hash concurrency on
 * WORKERS) or for DATABASE_URL's own parser messages. The readers below are small and give
 * "PORT must be an integer between 0 and 65535, got "70000"". `.env` is read by Node's own process.loadEnvFile.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDatabaseUrl } from '@user-service/data';
import { DEFAULT_PRINCIPAL_CACHE_SIZE, MAX_PRINCIPAL_CACHE_SIZE } from './cache/local-principal-cache.js';

/**
 * The service package's own `data/app.db`, as an absolute path, so `npm start`, `npm run cli` and
 * `npx user-service` use the same file whatever the working directory. Only this default is anchored to the
 * package: a relative DATABASE_URL given explicitly (`sqlite:///./x.db`) is relative to the working
 * directory, as in SQLAlchemy.
 */
export const DEFAULT_DATABASE_URL = `sqlite:///${sqliteUrlPath(join(packageDir(), 'data', 'app.db'))}`;

/** The nearest folder holding a package.json, up from this module (src/ under tsx, dist/ in the bundle). */
function packageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** A file path as the SQLite URL parser reads it back: it percent-decodes and stops at "?". */
function sqliteUrlPath(path: string): string {
  return path.replaceAll('%', '%25').replaceAll('?', '%3F');
}

export interface Config {
  databaseUrl: string;
  /**
   * DATABASE_REPLICA_URLS: PostgreSQL streaming replicas of DATABASE_URL (comma-separated) that serve lookups,
   * lists and searches, with read-your-writes (http/consistency.ts); empty = every read on the primary.
   */
  replicaUrls: string[];
  /** DATABASE_REPLICA_MAX_LAG_MS: a replica further behind than this serves no reads until it catches up. */
  replicaMaxLagMs: number;
  host: string;
  port: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** LOG_FORMAT: json, pretty (pino-pretty), or auto (pretty when stdout is a terminal). */
  logFormat: 'json' | 'pretty' | 'auto';
  /** How long a graceful stop may take (in-flight requests, database) before the process exits with status 1. */
  shutdownTimeoutMs: number;
  /** Load shedding (http/overload.ts): thresholds past which requests get 503 + Retry-After; 0 = off. */
  overload: { maxEventLoopDelayMs: number; maxEventLoopUtilization: number };
  /** Prometheus metrics: undefined (the default) when neither METRICS_TOKEN nor METRICS_PORT is set. */
  metrics: MetricsConfig | undefined;
  /** CORS_ORIGINS: exact origins allowed to call from a browser, or '*'; empty = no CORS headers. */
  corsOrigins: string[] | '*';
  pool: { size: number; maxOverflow: number; acquireTimeoutMs: number };
  /** The bound on each database query (migrations excepted); a query that takes longer answers 503. */
  queryTimeoutMs: number;
  connectAttempts: number;
  connectDelayMs: number;
  migrateOnStart: boolean;
  bodyLimitBytes: number;
  /** How long a client may take to send a whole request (headers and body) before it gets 408. */
  requestTimeoutMs: number;
  passwordHash: {
    memoryKib: number;
    iterations: number;
    parallelism: number;
    concurrency: number;
    queueMax: number;
    queueMaxWaitMs: number;
    nice: number;
  };
  workers: number;
  /** Secret for signing access tokens and list cursors; generated once per start (with a warning) when unset. */
  jwtSecret: string | undefined;
  tokenMinutes: number;
  totalsTtlMs: number;
  access: AccessConfig;
  /**
   * TRUST_PROXY: false (default: the TCP peer is the client), true (believe X-Forwarded-For entirely), a number
   * of proxy hops, or a comma-separated list of proxy addresses/CIDRs. Login limits count per client IP, so
   * behind a load balancer this must be set or every client shares the balancer's address.
   */
  trustProxy: boolean | number | string[];
  /** Traces (OpenTelemetry): undefined = off, and the SDK is never loaded (see tracing() below). */
  tracing: TracingConfig | undefined;
  /** Mail (verification, password reset) and the outbox that delivers it. */
  mail: MailConfig;
  /** AUDIT_RETENTION_DAYS: audit events older than this are pruned by the service once a day; 0 keeps them all. */
  auditRetentionDays: number;
  /** Redis (REDIS_URL, CACHE_TTL_MS): the shared cache and rate limits of many instances; off when unset. */
  redis: RedisConfig;
  /**
   * PRINCIPAL_CACHE_SIZE: without Redis, on SQLite, how many sessions' access checks each process keeps in
   * memory (exact: dropped on any write to the database, see cache/local-principal-cache.ts); 0 = none.
   */
  principalCacheSize: number;
}

/** What Redis is used for when REDIS_URL is set (src/cache/). */
export interface RedisConfig {
  /** REDIS_URL: redis://[[user]:password@]host[:port][/db] or rediss://...; undefined = no Redis at all. */
  url: string | undefined;
  /** CACHE_TTL_MS: how long a cached user or session lives (default 30 s); 0 = no cache, Redis for limits only. */
  cacheTtlMs: number;
}

/** How mail leaves the service (src/mail/). */
export interface MailConfig {
  /** SMTP_URL (smtp:// or smtps://, credentials in the URL); undefined = mails are logged, never sent. */
  smtpUrl: string | undefined;
  /** MAIL_FROM: the sender address. */
  from: string;
  /** PUBLIC_URL: where users reach the service; the base of the links in mails (no trailing slash). */
  publicUrl: string;
  /** OUTBOX_MAX_ATTEMPTS: sends tried before a mail is marked failed (`outbox retry` sends it again). */
  maxAttempts: number;
  /** OUTBOX_POLL_MS: how often each process looks for mails due (retries, and those other processes left). */
  pollMs: number;
  /** OUTBOX_RETRY_BASE_MS: the first retry's delay; each next one doubles (capped at an hour), with jitter. */
  retryBaseMs: number;
}

/** Sign-in, tokens, sessions and login protection (the access issue). */
export interface AccessConfig {
  /** false: the predecessors' open API, for a service behind a trusted gateway (warned about at start). */
  authRequired: boolean;
  /** Whether anyone may sign up at POST /auth/register. */
  registration: 'open' | 'closed';
  /** EdDSA: Ed25519 keys kept in the database and published at /.well-known/jwks.json; HS256: JWT_SECRET. */
  jwtAlgorithm: 'EdDSA' | 'HS256';
  issuer: string;
  audience: string;
  refreshTokenDays: number;
  sessionMaxDays: number;
  refreshReuseGraceSeconds: number;
  /** Encrypts signing keys at rest; unset, private keys are stored as they are (the README says what that means). */
  keyEncryptionSecret: string | undefined;
  firstSuperuser: { email: string; password: string } | undefined;
  login: LoginLimits;
  /** Requests per minute per client IP on /api/v1/auth/* (@fastify/rate-limit). */
  authRateLimitPerMinute: number;
  /** REQUIRE_VERIFIED_EMAIL: an unverified user cannot log in (403). */
  requireVerifiedEmail: boolean;
  /** VERIFY_TOKEN_EXPIRE_HOURS: how long an email-verification link works. */
  verifyTokenHours: number;
  /** RESET_TOKEN_EXPIRE_MINUTES: how long a password-reset link works. */
  resetTokenMinutes: number;
}

export interface LoginLimits {
  /** Failed logins per account within `windowMinutes` that lock the account. */
  accountMaxFailures: number;
  /** Failed logins per client IP within `windowMinutes` after which that IP is refused. */
  ipMaxFailures: number;
  /** The counting window, and how long a lock lasts. */
  windowMinutes: number;
}

/**
 * Where `GET /metrics` answers. Off unless one is set: what the metrics show (routes, traffic, sign-in failures)
 * is not for everyone, and only the operator can choose a secret or a network boundary.
 */
export interface MetricsConfig {
  /** METRICS_TOKEN: `/metrics` on the API port, for `Authorization: Bearer <token>` only. */
  token: string | undefined;
  /** METRICS_PORT: a separate listener serving only `/metrics`, on `host` (METRICS_HOST, default 127.0.0.1). */
  port: number | undefined;
  host: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function fraction(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || value < 0 || value > 1) {
    throw new ConfigError(`${name} must be a number between 0 and 1, got "${raw}"`);
  }
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${env[name]}"`);
  }
  return raw as T;
}

/** Reads `.env` from the working directory if present; variables already set in the environment win. */
export function loadDotEnv(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}

function jwtSecret(env: Env): string | undefined {
  const secret = env.JWT_SECRET?.trim();
  if (secret === undefined || secret === '') return undefined;
  if (secret.length < 32) throw new ConfigError('JWT_SECRET must be at least 32 characters long');
  return secret;
}

function replicaUrls(env: Env, kind: string): string[] {
  const urls = (env.DATABASE_REPLICA_URLS ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  for (const url of urls) {
    let replicaKind: string;
    try {
      replicaKind = parseDatabaseUrl(url).kind;
    } catch (error) {
      throw new ConfigError(`DATABASE_REPLICA_URLS: ${(error as Error).message}`);
    }
    if (replicaKind !== 'postgres' || kind !== 'postgres') {
      throw new ConfigError('DATABASE_REPLICA_URLS: read replicas are supported with a PostgreSQL DATABASE_URL only');
    }
  }
  return urls;
}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  let kind: string;
  try {
    kind = parseDatabaseUrl(databaseUrl).kind;
  } catch (error) {
    throw new ConfigError(`DATABASE_URL: ${(error as Error).message}`);
  }
  const workers = int(env, 'WORKERS', availableParallelism(), 1, 256);
  return {
    databaseUrl,
    replicaUrls: replicaUrls(env, kind),
    replicaMaxLagMs: int(env, 'DATABASE_REPLICA_MAX_LAG_MS', 30_000, 100, 86_400_000),
    host: env.HOST?.trim() || '127.0.0.1',
    port: int(env, 'PORT', 8000, 0, 65_535),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    logFormat: oneOf(env, 'LOG_FORMAT', 'auto', ['json', 'pretty', 'auto']),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 3_600_000),
    overload: {
      // A mean delay this long over a second means requests are waiting far longer than they take: shed load.
      maxEventLoopDelayMs: int(env, 'OVERLOAD_MAX_EVENT_LOOP_DELAY_MS', 200, 0, 60_000),
      // Off by default: a saturated process that still answers quickly runs near 1 (see README).
      maxEventLoopUtilization: fraction(env, 'OVERLOAD_MAX_EVENT_LOOP_UTILIZATION', 0),
    },
    metrics: metricsConfig(env),
    corsOrigins: corsOrigins(env),
    pool: {
      size: int(env, 'DB_POOL_SIZE', 5, 1, 1000),
      maxOverflow: int(env, 'DB_MAX_OVERFLOW', 10, 0, 1000),
      acquireTimeoutMs: int(env, 'DB_POOL_TIMEOUT_MS', 10_000, 100),
    },
    // Enforced by the client, so a frozen database server answers 503 after this long instead of hanging.
    queryTimeoutMs: int(env, 'DB_QUERY_TIMEOUT_MS', 5_000, 100, 3_600_000),
    connectAttempts: int(env, 'DB_CONNECT_ATTEMPTS', 5, 1, 1000),
    connectDelayMs: int(env, 'DB_CONNECT_DELAY_MS', 500, 0),
    // The embedded database has no separate deploy step, so it migrates itself; servers are migrated on purpose.
    migrateOnStart: bool(env, 'MIGRATE_ON_START', kind === 'sqlite'),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 1_048_576, 1024),
    // A client that dribbles its request holds a connection at most this long (Fastify's default is no limit).
    requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 30_000, 1000, 3_600_000),
    passwordHash: {
      memoryKib: int(env, 'PASSWORD_HASH_MEMORY_KIB', 19_456, 8_192, 4_194_304),
      iterations: int(env, 'PASSWORD_HASH_ITERATIONS', 2, 1, 100),
      parallelism: int(env, 'PASSWORD_HASH_PARALLELISM', 1, 1, 64),
      // The cores are shared by every worker process: more hashes in flight than cores only adds switching.
      concurrency: int(
        env,
        'PASSWORD_HASH_CONCURRENCY',
        Math.max(1, Math.round(availableParallelism() / workers)),
        1,
        1024,
      ),
      // A login flood waits at most this many hashes deep (about 3 s at ~12 ms a hash), then gets 503.
      queueMax: int(env, 'PASSWORD_HASH_QUEUE_MAX', 256, 1, 1_000_000),
      // ...and new hashes are refused once the oldest waiting one has waited this long: with the hashing threads
      // yielding to the event loops (nice), a queue of 256 can take far longer than 3 s to drain.
      queueMaxWaitMs: int(env, 'PASSWORD_HASH_QUEUE_MAX_WAIT_MS', 5_000, 100, 600_000),
      // Hashing threads yield the cores to the event loop (auth/thread-pool-priority.ts); 0 leaves them alone.
      nice: int(env, 'PASSWORD_HASH_NICE', 10, 0, 19),
    },
    workers,
    jwtSecret: jwtSecret(env),
    tokenMinutes: int(env, 'ACCESS_TOKEN_EXPIRE_MINUTES', 15, 1, 1440),
    totalsTtlMs: int(env, 'TOTAL_CACHE_MS', 1000, 0, 3_600_000),
    access: accessConfig(env),
    trustProxy: trustProxy(env),
    tracing: tracing(env),
    mail: mailConfig(env, int(env, 'PORT', 8000, 0, 65_535)),
    auditRetentionDays: int(env, 'AUDIT_RETENTION_DAYS', 0, 0, 36_500),
    redis: redisConfig(env),
    principalCacheSize: int(env, 'PRINCIPAL_CACHE_SIZE', DEFAULT_PRINCIPAL_CACHE_SIZE, 0, MAX_PRINCIPAL_CACHE_SIZE),
  };
}

function redisConfig(env: Env): RedisConfig {
  const url = env.REDIS_URL?.trim() || undefined;
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    // The value is not echoed: it may carry the Redis password.
    if (!parsed || !['redis:', 'rediss:'].includes(parsed.protocol) || !parsed.hostname) {
      throw new ConfigError('REDIS_URL must be redis://[[user]:password@]host[:port][/db] or rediss://...');
    }
  }
  return { url, cacheTtlMs: int(env, 'CACHE_TTL_MS', 30_000, 0, 86_400_000) };
}

function mailConfig(env: Env, port: number): MailConfig {
  const smtpUrl = env.SMTP_URL?.trim() || undefined;
  if (smtpUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(smtpUrl);
    } catch {
      url = undefined;
    }
    // The value is not echoed: it may carry the SMTP password.
    if (!url || !['smtp:', 'smtps:'].includes(url.protocol) || !url.hostname) {
      throw new ConfigError('SMTP_URL must be smtp://[user:password@]host[:port] or smtps://...');
    }
  }
  const from = text(env, 'MAIL_FROM', 'user-service <no-reply@localhost>');
  if (!/^[^\r\n]*@[^\r\n]+$/.test(from)) {
    throw new ConfigError(`MAIL_FROM must be an address like "Name <no-reply@example.com>", got "${from}"`);
  }
  const publicUrl = text(env, 'PUBLIC_URL', `http://localhost:${port}`).replace(/\/+$/, '');
  let parsed: URL | undefined;
  try {
    parsed = new URL(publicUrl);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) {
    throw new ConfigError(`PUBLIC_URL must be an http(s) URL like https://users.example.com, got "${publicUrl}"`);
  }
  return {
    smtpUrl,
    from,
    publicUrl,
    maxAttempts: int(env, 'OUTBOX_MAX_ATTEMPTS', 10, 1, 1000),
    pollMs: int(env, 'OUTBOX_POLL_MS', 5_000, 50, 3_600_000),
    retryBaseMs: int(env, 'OUTBOX_RETRY_BASE_MS', 1_000, 10, 3_600_000),
  };
}

function metricsConfig(env: Env): MetricsConfig | undefined {
  const token = env.METRICS_TOKEN?.trim() || undefined;
  if (token !== undefined && token.length < 16) {
    throw new ConfigError('METRICS_TOKEN must be at least 16 characters long (use a random string)');
  }
  const port = env.METRICS_PORT?.trim() ? int(env, 'METRICS_PORT', 0, 1, 65_535) : undefined;
  if (port !== undefined && port === int(env, 'PORT', 8000, 0, 65_535)) {
    throw new ConfigError(
      `METRICS_PORT must differ from PORT (both ${port}); to serve /metrics on PORT set METRICS_TOKEN`,
    );
  }
  if (token === undefined && port === undefined) return undefined;
  return { token, port, host: env.METRICS_HOST?.trim() || '127.0.0.1' };
}

function trustProxy(env: Env): boolean | number | string[] {
  const raw = env.TRUST_PROXY?.trim();
  if (raw === undefined || raw === '' || /^(false|no|off|0)$/i.test(raw)) return false;
  if (/^(true|yes|on)$/i.test(raw)) return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const list = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (list.some((part) => !/^[0-9a-fA-F.:/]+$/.test(part))) {
    throw new ConfigError(`TRUST_PROXY must be true, false, a number of hops or a list of addresses, got "${raw}"`);
  }
  return list;
}

/** CORS_ORIGINS: `*`, or a comma-separated list of exact origins (scheme://host[:port], no path). */
function corsOrigins(env: Env): string[] | '*' {
  const raw = env.CORS_ORIGINS?.trim();
  if (raw === undefined || raw === '') return [];
  if (raw === '*') return '*';
  const origins = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.origin !== origin) {
      throw new ConfigError(
        `CORS_ORIGINS must be * or a comma-separated list of origins like https://app.example.com (scheme, host, optional port; no path or trailing slash), got "${origin}"`,
      );
    }
  }
  return origins;
}

function text(env: Env, name: string, fallback: string): string {
  return env[name]?.trim() || fallback;
}

/** The access settings with nothing set in the environment (what buildApp uses for what it is not given). */
export function defaultAccess(): AccessConfig {
  return accessConfig({});
}

function accessConfig(env: Env): AccessConfig {
  const jwtAlgorithm = env.JWT_ALGORITHM?.trim().toUpperCase() === 'HS256' ? 'HS256' : 'EdDSA';
  const rawAlgorithm = env.JWT_ALGORITHM?.trim();
  if (rawAlgorithm && !['EDDSA', 'HS256'].includes(rawAlgorithm.toUpperCase())) {
    throw new ConfigError(`JWT_ALGORITHM must be one of EdDSA, HS256, got "${rawAlgorithm}"`);
  }
  if (jwtAlgorithm === 'HS256' && !jwtSecret(env)) {
    throw new ConfigError('JWT_ALGORITHM=HS256 needs JWT_SECRET (at least 32 characters), shared with the verifiers');
  }
  const keyEncryptionSecret = env.KEY_ENCRYPTION_SECRET?.trim() || undefined;
  if (keyEncryptionSecret !== undefined && keyEncryptionSecret.length < 32) {
    throw new ConfigError('KEY_ENCRYPTION_SECRET must be at least 32 characters long');
  }
  const email = env.FIRST_SUPERUSER_EMAIL?.trim();
  const password = env.FIRST_SUPERUSER_PASSWORD;
  if (Boolean(email) !== Boolean(password)) {
    throw new ConfigError('FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD go together: set both or neither');
  }
  const refreshTokenDays = int(env, 'REFRESH_TOKEN_EXPIRE_DAYS', 7, 1, 3650);
  const sessionMaxDays = int(env, 'SESSION_MAX_DAYS', 30, 1, 3650);
  if (sessionMaxDays < refreshTokenDays) {
    throw new ConfigError(
      `SESSION_MAX_DAYS (${sessionMaxDays}) must be at least REFRESH_TOKEN_EXPIRE_DAYS (${refreshTokenDays})`,
    );
  }
  return {
    authRequired: bool(env, 'AUTH_REQUIRED', true),
    registration: oneOf(env, 'REGISTRATION', 'open', ['open', 'closed']),
    jwtAlgorithm,
    issuer: text(env, 'JWT_ISSUER', 'user-service'),
    audience: text(env, 'JWT_AUDIENCE', 'user-service'),
    refreshTokenDays,
    sessionMaxDays,
    refreshReuseGraceSeconds: int(env, 'REFRESH_REUSE_GRACE_SECONDS', 10, 0, 300),
    keyEncryptionSecret,
    firstSuperuser: email && password ? { email, password } : undefined,
    login: {
      accountMaxFailures: int(env, 'LOGIN_MAX_FAILURES', 10, 1, 1_000_000),
      ipMaxFailures: int(env, 'LOGIN_IP_MAX_FAILURES', 100, 1, 1_000_000),
      windowMinutes: int(env, 'LOGIN_LOCKOUT_MINUTES', 15, 1, 1440),
    },
    authRateLimitPerMinute: int(env, 'AUTH_RATE_LIMIT_PER_MINUTE', 60, 1, 1_000_000),
    requireVerifiedEmail: bool(env, 'REQUIRE_VERIFIED_EMAIL', false),
    verifyTokenHours: int(env, 'VERIFY_TOKEN_EXPIRE_HOURS', 48, 1, 8760),
    resetTokenMinutes: int(env, 'RESET_TOKEN_EXPIRE_MINUTES', 30, 1, 10_080),
  };
}

/** Where spans go when tracing is on; the SDK reads the other OTEL_* variables (endpoint, headers, batching) itself. */
export interface TracingConfig {
  exporters: ('otlp' | 'console')[];
  /** OTEL_SERVICE_NAME, default user-service. */
  serviceName: string;
}

/**
 * Tracing is on when OTEL_TRACES_EXPORTER names an exporter (otlp, console, or both comma-separated), or, with it
 * unset, when an OTLP endpoint is configured; `none` or OTEL_SDK_DISABLED=true turn it off. The exporter sends
 * OTLP/HTTP with JSON bodies: gRPC is refused here rather than sent to a port that would not understand it.
 */
function tracing(env: Env): TracingConfig | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const raw = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  let exporters: string[];
  if (raw) {
    exporters = [...new Set(raw.split(',').map((part) => part.trim()))].filter(Boolean);
    if (exporters.includes('none')) return undefined;
    if (exporters.length === 0 || exporters.some((name) => name !== 'otlp' && name !== 'console')) {
      throw new ConfigError(`OTEL_TRACES_EXPORTER must be otlp, console, both (comma-separated) or none, got "${raw}"`);
    }
  } else if (env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()) {
    exporters = ['otlp'];
  } else {
    return undefined;
  }
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    if (exporters.includes('otlp') && env[name]?.trim().toLowerCase() === 'grpc') {
      throw new ConfigError(`${name}=grpc is not supported: traces are sent as OTLP/HTTP (JSON), port 4318 by default`);
    }
  }
  return {
    exporters: exporters as TracingConfig['exporters'],
    serviceName: env.OTEL_SERVICE_NAME?.trim() || 'user-service',
  };
}
