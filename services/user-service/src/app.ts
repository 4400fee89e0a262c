import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database, Migrator } from '@user-service/data';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { registerAccessControl } from './access/access-control.js';
import { authenticator } from './access/authenticate.js';
import { adminConsoleRoutes } from './admin/admin-console.routes.js';
import { apiKeyRoutes } from './api-keys/api-key.routes.js';
import { ApiKeyService } from './api-keys/api-key.service.js';
import { auditRoutes } from './audit/audit.routes.js';
import { AuditService } from './audit/audit.service.js';
import { registerAuditRetention } from './audit/audit-retention.js';
import { AccessTokens } from './auth/access-tokens.js';
import { accountRoutes } from './auth/account.routes.js';
import { AccountService } from './auth/account.service.js';
import { authRoutes } from './auth/auth.routes.js';
import { AuthService } from './auth/auth.service.js';
import { jwksRoutes } from './auth/jwks.routes.js';
import { LoginGuard } from './auth/login-guard.js';
import type { PasswordHasher } from './auth/password-hasher.js';
import { DEFAULT_PRINCIPAL_CACHE_SIZE, LocalPrincipalCache } from './cache/local-principal-cache.js';
import { sharedRateLimitStore } from './cache/rate-limit-store.js';
import type { RedisLog } from './cache/redis-connection.js';
import { redisPositions } from './cache/redis-positions.js';
import { UserCache } from './cache/user-cache.js';
import { type AccessConfig, defaultAccess, loadConfig, type MailConfig } from './config.js';
import { healthRoutes } from './health/health.routes.js';
import { registerAuthRateLimit } from './http/auth-rate-limit.js';
import { HttpError, ValidationErrorBody } from './http/common.schemas.js';
import { registerConsistency } from './http/consistency.js';
import { registerCors } from './http/cors.js';
import { documentFrameworkErrors } from './http/documented-errors.js';
import { registerErrorHandler, replyToClientError, replyToFrameworkError } from './http/error-handler.js';
import { type OverloadOptions, registerOverloadGuard } from './http/overload.js';
import { cachedSerializerFactory, cachedValidatorFactory, DeferredCompiles } from './http/schema-compilers.js';
import { registerSecurityHeaders } from './http/security-headers.js';
import { validatorCompiler } from './http/validators.js';
import { createMailTransport } from './mail/mail-transport.js';
import { Outbox } from './mail/outbox.js';
import { OutboxSender } from './mail/outbox-sender.js';
import { AccessLogController, registerAccessLog } from './observability/access-log.js';
import { registerHttpMetrics } from './observability/http-metrics.js';
import type { ServiceMetrics } from './observability/metrics.js';
import { metricsRoutes } from './observability/metrics.routes.js';
import type { RenderMetrics } from './observability/metrics-listener.js';
import { lazyChildLogger } from './observability/request-logger.js';
import type { RequestTracing } from './observability/tracing.js';
import { personaRoutes } from './personas/persona.routes.js';
import { PersonaListPublic, PersonaPublic } from './personas/persona.schemas.js';
import { PersonaService } from './personas/persona.service.js';
import { SessionService } from './sessions/session.service.js';
import { userSessionsRoutes } from './sessions/user-sessions.routes.js';
import { meRoutes } from './users/me.routes.js';
import { warmPasswordRules } from './users/password-rules.js';
import { userRoutes } from './users/user.routes.js';
import { UserListPublic, UserPublic } from './users/user.schemas.js';
import { UserService } from './users/user.service.js';
import { VERSION } from './version.js';

export interface AppDeps {
  database: Database;
  migrator: Migrator;
  hasher: PasswordHasher;
  /**
   * The server secret every process shares (JWT_SECRET, or the one the cluster primary generated): signs list
   * cursors and derives refresh-token successors; signs access tokens too when JWT_ALGORITHM=HS256.
   */
  tokenSecret: string;
  tokenMinutes?: number;
  /** Access settings (config.ts AccessConfig); defaults as documented in the README. */
  access?: Partial<AccessConfig>;
  /** Called once with each start-up warning (the banner and the log show them). */
  warn?: (message: string) => void;
  /** How long a list's `total` is fresh, in ms (TOTAL_CACHE_MS; see CountCache); 0 counts on every request. */
  totalsTtlMs?: number;
  /** PRINCIPAL_CACHE_SIZE: sessions whose access check this process keeps (SQLite, no Redis); 0 = none. */
  principalCacheSize?: number;
  logger?: FastifyServerOptions['logger'];
  /** TRUST_PROXY: whose X-Forwarded-For to believe for the client IP (login limits, sessions list). */
  trustProxy?: FastifyServerOptions['trustProxy'];
  bodyLimitBytes?: number;
  /** Load shedding (OVERLOAD_*); off when not given (the tests' apps). */
  overload?: OverloadOptions;
  /**
   * Prometheus metrics (observability/metrics.ts), when on: the collector the HTTP hooks feed, how a scrape is
   * rendered (this process, or the cluster's sum), and METRICS_TOKEN, which puts `GET /metrics` on this port.
   */
  metrics?: { collector: ServiceMetrics; render: RenderMetrics; token?: string | undefined };
  /** CORS_ORIGINS: exact origins or '*'; none = no CORS headers. */
  corsOrigins?: readonly string[] | '*';
  /** Traces (observability/tracing.ts), only when OTEL_* turn them on: no hook or wrapper otherwise. */
  tracing?: RequestTracing;
  /** Per-IP limit of each mail-sending route (auth/account.routes.ts); MAIL_REQUESTS_PER_MINUTE unless given. */
  mailRequestsPerMinute?: number;
  /**
   * Mail and the outbox sender (config.ts MailConfig); what is not given is as with nothing set in the
   * environment: no SMTP_URL (mails are logged without their body, never sent), the default from and public URL.
   */
  mail?: Partial<MailConfig>;
  /** AUDIT_RETENTION_DAYS: prune older audit events at start and daily; 0 or absent keeps them all (the tests). */
  auditRetentionDays?: number;
  /**
   * REDIS_URL and CACHE_TTL_MS (src/cache/): the app opens its Redis client, caches users and principals there
   * (unless cacheTtlMs is 0) and counts rate limits there; closed with the app. Absent: no Redis, nothing cached.
   * `log` receives the connection's state changes (the app's logger when not given).
   */
  redis?: { url: string; cacheTtlMs: number; log?: RedisLog; commandTimeoutMs?: number };
  /** The built admin console (dist/admin) to serve at /admin; absent: no console (most tests' apps). */
  adminConsoleDir?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Each app's schema compiles not yet run (http/schema-compilers.ts). Fastify no longer compiles at ready(), so a
 * schema that cannot compile would only show at its route's first request: the tests drain this to compile
 * every route's schemas (test/schema-compilers.test.ts).
 */
const deferredSchemaCompiles = new WeakMap<FastifyInstance, DeferredCompiles>();
export function schemaCompilesOf(app: FastifyInstance): DeferredCompiles | undefined {
  return deferredSchemaCompiles.get(app);
}

/** Builds the HTTP application from its parts; used by main.ts and, through app.inject(), by the tests. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const schemaCompiles = new DeferredCompiles();
  const app = Fastify({
    logger: deps.logger ?? false,
    // With tracing on, each request is handled inside its span's context (see observability/tracing.ts).
    ...(deps.tracing ? { serverFactory: deps.tracing.serverFactory } : {}),
    // One access line per request instead of Fastify's two (observability/access-log.ts).
    logController: new AccessLogController(),
    // Each request's child logger is made when it first writes a line (observability/request-logger.ts).
    ...(deps.logger ? { childLoggerFactory: lazyChildLogger } : {}),
    bodyLimit: deps.bodyLimitBytes ?? 1_048_576,
    trustProxy: deps.trustProxy ?? false,
    // Path segments up to 1 KiB reach the schemas (which answer 422 past their own limits); longer is a 414.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    // Only the HEAD routes we declare (existence checks), not an automatic twin of every GET.
    exposeHeadRoutes: false,
    // Take the caller's request id when it is a sane token, so one id follows a request across services.
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    // Router and connection errors answer in the same {"detail": ...} shape as everything else.
    frameworkErrors: replyToFrameworkError,
    clientErrorHandler: replyToClientError,
    // Our validator for every context, given as the factory rather than app.setValidatorCompiler(): a plugin that
    // adds its own schemas (api-keys, audit) gets a compiler rebuilt from the server option, which with
    // setValidatorCompiler is Fastify's default Ajv (coercing, no NUL check). Both compile each distinct schema
    // once (http/schema-compilers.ts), and not before the port is open: start-up time.
    schemaController: {
      compilersFactory: {
        buildValidator: cachedValidatorFactory(validatorCompiler, schemaCompiles),
        buildSerializer: cachedSerializerFactory(schemaCompiles),
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  deferredSchemaCompiles.set(app, schemaCompiles);
  // The schemas no request has needed yet are compiled once the server listens (or first used before that).
  app.addHook('onListen', (done) => {
    void schemaCompiles
      .drain((error) => app.log.error({ err: error }, 'a route schema failed to compile'))
      .then(() => setImmediate(warmPasswordRules));
    done();
  });
  documentFrameworkErrors(app);

  // Once shutdown starts, answers to in-flight requests close their connection, so close() need not wait for
  // keep-alive sockets to time out.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Synchronous (done callback), as every hook on the hot path: an async hook costs a promise and a tick.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  for (const schema of [HttpError, ValidationErrorBody, UserPublic, UserListPublic, PersonaPublic, PersonaListPublic]) {
    app.addSchema(schema);
  }
  registerErrorHandler(app);
  registerSecurityHeaders(app);
  // First of the request hooks, so every answer is counted, refusals included.
  if (deps.metrics) registerHttpMetrics(app, deps.metrics.collector);
  deps.tracing?.register(app);
  registerAccessLog(app);

  const access: AccessConfig = { ...defaultAccess(), ...deps.access };
  const warn = deps.warn ?? (() => {});
  // One Redis client for the app (the process). Its onClose hook is added first so that it runs last (Fastify
  // runs them last-added first): what the other hooks still write is invalidated before Redis closes.
  // Imported only with REDIS_URL set: ioredis costs a worker ~0.1 s of start-up CPU that nothing else needs.
  const redis = deps.redis
    ? new (await import('./cache/redis-connection.js')).RedisConnection(
        deps.redis.url,
        deps.redis.log ?? { warn: (m) => app.log.warn(m), info: (m) => app.log.info(m) },
        deps.redis.commandTimeoutMs ? { commandTimeoutMs: deps.redis.commandTimeoutMs } : {},
      )
    : undefined;
  if (redis) app.addHook('onClose', async () => redis.close());
  const userCache =
    redis && deps.redis?.cacheTtlMs ? new UserCache(redis, { ttlMs: deps.redis.cacheTtlMs }) : undefined;
  // Lookups, lists and persona reads may be served by a read replica (Database.eventual; the database itself
  // without replicas), as fresh as the client's consistency token requires (http/consistency.ts).
  const users = new UserService(deps.database, deps.hasher, deps.totalsTtlMs ?? 0, deps.database.eventual);
  const personas = new PersonaService(deps.database.eventual, users);
  const sessions = new SessionService(deps.database, {
    refreshTokenDays: access.refreshTokenDays,
    sessionMaxDays: access.sessionMaxDays,
    refreshReuseGraceSeconds: access.refreshReuseGraceSeconds,
    secret: deps.tokenSecret,
  });
  users.setCache(userCache);
  sessions.setCache(userCache);
  // Without the shared cache, the access check is kept in memory where the database can tell that nothing
  // changed since (SQLite: every process's writes move its change stamp), so it stays exact.
  const principalCacheSize = deps.principalCacheSize ?? DEFAULT_PRINCIPAL_CACHE_SIZE;
  if (!userCache && principalCacheSize > 0 && deps.database.changeStamp() !== undefined) {
    sessions.setLocalCache(new LocalPrincipalCache(deps.database.changeStamp, principalCacheSize));
  }
  const apiKeys = new ApiKeyService(deps.database);
  const audit = new AuditService(deps.database);
  if (deps.auditRetentionDays) registerAuditRetention(app, audit, deps.auditRetentionDays);
  // A key's last use is recorded without the request waiting; at shutdown, wait for those writes to land.
  app.addHook('onClose', async () => apiKeys.settled());
  // One outbox and one sender per process; every process sends (the sender's claim keeps that safe).
  const mail: MailConfig = { ...loadConfig({}).mail, ...deps.mail };
  const outbox = new Outbox(mail, deps.database);
  const outboxSender = new OutboxSender({
    config: mail,
    store: deps.database,
    outbox,
    transport: createMailTransport(mail, app.log),
    log: app.log,
  });
  app.addHook('onReady', async () => outboxSender.start());
  // At shutdown: no new claim, the send in flight finishes, mails claimed but not tried are given back.
  app.addHook('onClose', async () => outboxSender.close());
  // Verification and reset tokens; UserService calls it on each creation, email change and password change.
  const accounts = new AccountService(deps.database, users, outbox, {
    verifyTokenHours: access.verifyTokenHours,
    resetTokenMinutes: access.resetTokenMinutes,
    onError: (error) => app.log.error({ err: error }, 'queued verification or reset request failed'),
  });
  users.setLifecycle(accounts);
  // Mail requests already answered 202 are handled before the database closes.
  app.addHook('onClose', async () => accounts.settled());
  const tokenMinutes = deps.tokenMinutes ?? 15;
  const tokens = await AccessTokens.open(
    deps.database,
    {
      algorithm: access.jwtAlgorithm,
      secret: deps.tokenSecret,
      issuer: access.issuer,
      audience: access.audience,
      lifetimeSeconds: tokenMinutes * 60,
      ...(access.keyEncryptionSecret ? { keyEncryptionSecret: access.keyEncryptionSecret } : {}),
    },
    warn,
  );
  const auth = new AuthService(users, deps.hasher, new LoginGuard(deps.database, access.login), deps.database, {
    requireVerifiedEmail: access.requireVerifiedEmail,
  });
  if (!access.authRequired) {
    warn('WARNING: AUTH_REQUIRED=false: the users and personas API is open to anyone who can reach it');
  }
  // Before the access layer: an overloaded process refuses before authenticating, a CORS preflight (which
  // carries no credentials) is answered before authentication.
  // Read-your-writes with read replicas: the request's consistency scope, entered by the first onRequest hook
  // that may matter: a keep-alive connection's async context still holds the previous request's scope until
  // this hook replaces it, so no hook that touches the database may come before it.
  if (deps.database.consistency) {
    registerConsistency(app, deps.database.consistency, redis ? redisPositions(redis) : undefined);
  }
  if (deps.overload) await registerOverloadGuard(app, deps.overload);
  await registerCors(app, deps.corsOrigins ?? []);
  // Before any route: every route registered from here on must have a rule in access/policy.ts.
  registerAccessControl(app, {
    authRequired: access.authRequired,
    registration: access.registration,
    authenticate: authenticator({ tokens, sessions, apiKeys }),
    metricsToken: deps.metrics?.token,
  });
  await registerAuthRateLimit(app, {
    perMinute: access.authRateLimitPerMinute,
    ...(redis ? { store: sharedRateLimitStore(redis) } : {}),
  });
  // JSON only: a text/plain body is refused with 415 instead of reaching validation as a string.
  app.removeContentTypeParser('text/plain');

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'user-service',
        version: VERSION,
        description: 'Users and their personas, on SQLite, PostgreSQL or MySQL/MariaDB.',
      },
      tags: [
        { name: 'users', description: 'Create, find, list, search, update and delete users' },
        { name: 'personas', description: "A user's personas" },
        { name: 'auth', description: 'Log in, who am I, change password, verify the email, reset the password' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'audit', description: 'The audit log: security and administrative events' },
      ],
      components: {
        securitySchemes: {
          // Swagger UI's "Authorize": the password form gets an access token from /auth/login.
          bearerAuth: {
            type: 'oauth2',
            description: 'Log in with email or username and password; the access token is sent as a bearer token',
            flows: { password: { tokenUrl: '/api/v1/auth/login', refreshUrl: '/api/v1/auth/refresh', scopes: {} } },
          },
          apiKeyAuth: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description: 'An API key (usk_...) created by a superuser at POST /api/v1/api-keys',
          },
        },
      },
      // Every operation needs one of these unless it says otherwise (security: [] on the public ones).
      security: [{ bearerAuth: [] }, { apiKeyAuth: [] }],
    },
    exposeHeadRoutes: true,
    // Shared schemas become named components (#/components/schemas/UserPublic) instead of def-0, def-1...
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { database: deps.database, migrator: deps.migrator });
  if (deps.metrics?.token) await app.register(metricsRoutes, { render: deps.metrics.render });
  await app.register(jwksRoutes, { tokens });
  await app.register(meRoutes, { prefix: '/api/v1', users, personas, auth });
  await app.register(userRoutes, { prefix: '/api/v1', users });
  await app.register(personaRoutes, { prefix: '/api/v1', personas });
  await app.register(authRoutes, { prefix: '/api/v1', auth, users, sessions, tokens });
  await app.register(accountRoutes, {
    prefix: '/api/v1',
    accounts,
    ...(deps.mailRequestsPerMinute ? { perMinute: deps.mailRequestsPerMinute } : {}),
  });
  await app.register(apiKeyRoutes, { prefix: '/api/v1', apiKeys });
  await app.register(userSessionsRoutes, { prefix: '/api/v1', users, sessions });
  await app.register(auditRoutes, { prefix: '/api/v1', audit });
  if (deps.adminConsoleDir) await app.register(adminConsoleRoutes, { dir: deps.adminConsoleDir });
  return app;
}
