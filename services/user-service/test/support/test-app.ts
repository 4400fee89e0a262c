import {
  type Database,
  Migrator,
  openDatabase,
  type QueryEvent,
  type QueryObserver,
  typedQuery,
} from '@user-service/data';
import { requireUrl, type TestDatabase } from '@user-service/data/testing';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { SCOPES } from '../../src/access/principal.js';
import { ApiKeyRepository } from '../../src/api-keys/api-key.repository.js';
import { ApiKeyService, hashApiKeySecret } from '../../src/api-keys/api-key.service.js';
import { API_KEY_PREFIX_LENGTH } from '../../src/api-keys/api-key.table.js';
import { type AppDeps, buildApp } from '../../src/app.js';
import { PasswordHasher, type PasswordHashOptions } from '../../src/auth/password-hasher.js';
import { type AccessConfig, defaultAccess, type MailConfig } from '../../src/config.js';
import { SERVICE_TABLES } from '../../src/declared-tables.js';
import { ServiceMetrics } from '../../src/observability/metrics.js';
import { MIGRATIONS_DIR } from '../../src/runtime.js';
import { type User, UserService } from '../../src/users/user.service.js';

/** The server secret (cursors, refresh successors; HS256 tokens when asked) of every test app. */
export const TEST_TOKEN_SECRET = 'test-secret-test-secret-test-secret';

const LEAKED_HASH = /\$argon2(id|i|d)\$|\$2[aby]\$\d\d\$/;

/** Cheap argon2id parameters so tests do not spend seconds hashing; production defaults are tested separately. */
export const FAST_HASH = { memoryKib: 1024, iterations: 1, parallelism: 1, concurrency: 4 };

/** A password no common-password list holds, for test users. */
export const TEST_PASSWORD = 'vq7-Lantern-Orbit-92';

export interface SignedIn {
  user: User;
  access_token: string;
  refresh_token: string;
  /** `{ authorization: 'Bearer <access token>' }` */
  headers: { authorization: string };
}

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  migrator: Migrator;
  hasher: PasswordHasher;
  /** A key with every scope; sent as X-API-Key on requests without credentials unless `defaultCredentials: false`. */
  apiKey: string;
  /** Stores the test key again, for a test that migrated down past the api_keys table and back up. */
  reinstateApiKey(): Promise<void>;
  /** Creates a user through the service (as the CLI does) and logs in through the API. */
  signUp(options?: { email?: string; superuser?: boolean; password?: string }): Promise<SignedIn>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  bodyLimitBytes?: number;
  /**
   * true (the default): a request the test sends without Authorization or X-API-Key carries the all-scopes API
   * key, so the suites about users and personas test their feature through the real access check. false: such
   * a request is anonymous (the access tests).
   */
  defaultCredentials?: boolean;
  access?: Partial<AccessConfig>;
  tokenMinutes?: number;
  /** Fastify's logger (off by default); the logs test passes the service's options with a capturing stream. */
  logger?: AppDeps['logger'];
  /** Load shedding (off by default). */
  overload?: AppDeps['overload'];
  corsOrigins?: AppDeps['corsOrigins'];
  /** TOTAL_CACHE_MS (0 by default: every list counts). */
  totalsTtlMs?: number;
  /** Prometheus metrics with this METRICS_TOKEN (collector closed with the app); off by default. */
  metrics?: { token: string };
  /** Overrides of FAST_HASH (e.g. a tiny queueMax). */
  hash?: Partial<PasswordHashOptions>;
  /** REDIS_URL, CACHE_TTL_MS and where the connection's state lines go (the app's logger when not given). */
  redis?: AppDeps['redis'];
  /** Mail settings over TEST_MAIL (no SMTP_URL: mails are logged, never sent; a quick poll). */
  mail?: Partial<MailConfig>;
  /** AUDIT_RETENTION_DAYS (off by default): the app prunes the audit log once ready, then daily. */
  auditRetentionDays?: number;
  /** Per-IP limit of the mail-sending routes (relaxed by default, like RELAXED below). */
  mailRequestsPerMinute?: number;
  /** DATABASE_REPLICA_URLS: read replicas of the test database (probed every 50 ms). */
  replicaUrls?: string[];
  /** A built admin console to serve at /admin (none by default). */
  adminConsoleDir?: string;
  /** Told about every statement the app's database runs (with metrics on, after the collector). */
  onQuery?: QueryObserver;
  /** PRINCIPAL_CACHE_SIZE (the service's default when not given). */
  principalCacheSize?: number;
}

/** Limits so high that no suite trips them by accident; the tests of the limits set their own. */
const RELAXED: Partial<AccessConfig> = {
  authRateLimitPerMinute: 1_000_000,
  login: { accountMaxFailures: 1_000_000, ipMaxFailures: 1_000_000, windowMinutes: 15 },
};

/** Tests' mail: nothing sent unless a test gives an SMTP_URL, and a sender that polls every 100 ms. */
const TEST_MAIL: Partial<MailConfig> = { smtpUrl: undefined, pollMs: 100, retryBaseMs: 50 };

let counter = 0;

/** A migrated database of the given kind and the app built on it, as main.ts builds it. */
export async function openTestApp(tdb: TestDatabase, options: TestAppOptions = {}): Promise<TestApp> {
  const collector = options.metrics ? new ServiceMetrics() : undefined;
  const database = await openDatabase(requireUrl(tdb), {
    connectAttempts: 1,
    ...(collector || options.onQuery
      ? {
          onQuery: (event: QueryEvent) => {
            collector?.onQuery(event);
            options.onQuery?.(event);
          },
        }
      : {}),
    ...(options.replicaUrls
      ? { replicaUrls: options.replicaUrls, replicaPollMs: 50, cursorSecret: TEST_TOKEN_SECRET }
      : {}),
  });
  const migrator = await Migrator.fromDirectory(database, MIGRATIONS_DIR);
  await migrator.up();
  const hasher = new PasswordHasher({ ...FAST_HASH, ...options.hash });
  const app = await buildApp({
    database,
    migrator,
    hasher,
    tokenSecret: TEST_TOKEN_SECRET,
    ...(options.bodyLimitBytes ? { bodyLimitBytes: options.bodyLimitBytes } : {}),
    ...(options.tokenMinutes ? { tokenMinutes: options.tokenMinutes } : {}),
    ...(options.totalsTtlMs ? { totalsTtlMs: options.totalsTtlMs } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.overload ? { overload: options.overload } : {}),
    ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
    ...(options.auditRetentionDays ? { auditRetentionDays: options.auditRetentionDays } : {}),
    ...(collector ? { metrics: { collector, render: () => collector.render(), token: options.metrics?.token } } : {}),
    ...(options.redis ? { redis: options.redis } : {}),
    ...(options.adminConsoleDir ? { adminConsoleDir: options.adminConsoleDir } : {}),
    ...(options.principalCacheSize !== undefined ? { principalCacheSize: options.principalCacheSize } : {}),
    access: { ...defaultAccess(), ...RELAXED, ...options.access },
    mail: { ...TEST_MAIL, ...options.mail },
    mailRequestsPerMinute: options.mailRequestsPerMinute ?? 1_000_000,
  });
  collector?.observe({ database, hasher });
  app.addHook('onClose', async () => collector?.close());
  // Every response of every API test passes this guard: a password hash in any body fails the test.
  app.addHook('onSend', async (request, _reply, payload) => {
    if (typeof payload === 'string' && LEAKED_HASH.test(payload)) {
      throw new Error(`password hash leaked in the response to ${request.method} ${request.url}`);
    }
    return payload;
  });
  const apiKey = (
    await new ApiKeyService(database).create({ name: `test-app ${++counter}`, scopes: [...SCOPES] }, null)
  ).secret;
  if (options.defaultCredentials ?? true) withDefaultCredentials(app, apiKey);
  const users = new UserService(database, hasher);
  return {
    app,
    database,
    migrator,
    hasher,
    apiKey,
    async reinstateApiKey() {
      await new ApiKeyRepository(database).create({
        name: `test-app ${++counter}`,
        prefix: apiKey.slice(0, API_KEY_PREFIX_LENGTH),
        key_hash: hashApiKeySecret(apiKey),
        scopes: [...SCOPES],
        created_by: null,
        created_at: new Date().toISOString(),
        expires_at: null,
      });
    },
    async signUp(signUp = {}) {
      const password = signUp.password ?? TEST_PASSWORD;
      const email = signUp.email ?? `user-${Date.now()}-${++counter}@example.com`;
      const user = await users.create({ email, password, is_superuser: signUp.superuser ?? false });
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: email, password },
      });
      if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`);
      const tokens = response.json() as { access_token: string; refresh_token: string };
      return { user, ...tokens, headers: { authorization: `Bearer ${tokens.access_token}` } };
    },
    close: async () => {
      await app.close();
      await database.close();
    },
  };
}

/** Adds the test key to requests that carry no credentials of their own. */
function withDefaultCredentials(app: FastifyInstance, apiKey: string): void {
  const inject = app.inject.bind(app) as (options: InjectOptions) => ReturnType<FastifyInstance['inject']>;
  app.inject = ((options: InjectOptions | string) => {
    const opts = typeof options === 'string' ? { url: options } : options;
    const names = Object.keys(opts.headers ?? {}).map((name) => name.toLowerCase());
    if (names.includes('authorization') || names.includes('x-api-key')) return inject(opts);
    return inject({ ...opts, headers: { ...opts.headers, 'x-api-key': apiKey } });
  }) as FastifyInstance['inject'];
}

/** Deletes every user (and so their personas and sessions) and the login failures between tests. */
export async function emptyTables(database: Database): Promise<void> {
  await typedQuery(database, SERVICE_TABLES, async (db) => {
    await db.deleteFrom('personas').execute();
    await db.deleteFrom('users').execute();
    await db.deleteFrom('login_failures').execute();
    await db.deleteFrom('audit_events').execute();
  });
}
