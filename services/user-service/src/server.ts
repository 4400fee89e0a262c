import cluster from 'node:cluster';
import { DatabaseUrlError, redactUrl } from '@user-service/data';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { builtConsoleDir } from './admin/admin-console.routes.js';
import { type AppDeps, buildApp } from './app.js';
import { ensureFirstSuperuser } from './auth/first-superuser.js';
import { type Config, ConfigError } from './config.js';
import { EXIT_CONFIG } from './exit-codes.js';
import { describeMail } from './mail/mail-transport.js';
import { loggerOptions } from './observability/logger.js';
import type { ServiceMetrics } from './observability/metrics.js';
import type { RenderMetrics } from './observability/metrics-listener.js';
import { openRuntime } from './runtime.js';
import { generatedTokenSecret } from './token-secret.js';
import { UserService } from './users/user.service.js';

/**
 * Starts the HTTP service: database, migrations (when configured), app, listen, signals. Resolves once it
 * listens; SIGTERM/SIGINT stop accepting, let in-flight requests finish, then close the pool (see
 * stopGracefully).
 */
export async function serve(config: Config, options: { quiet?: boolean } = {}): Promise<FastifyInstance> {
  const startedAt = performance.now();
  const log = (message: string) => process.stderr.write(`${message}\n`);
  const tokenSecret = config.jwtSecret ?? generatedTokenSecret(log);
  // A cluster worker that meets a failure no restart fixes says so by its exit status (see cluster.ts).
  const failStart = (error: unknown): never => {
    const code = (error as { code?: unknown })?.code;
    if (
      cluster.isWorker &&
      (error instanceof DatabaseUrlError || error instanceof ConfigError || code === 'EADDRINUSE' || code === 'EACCES')
    ) {
      log(`failed to start: ${(error as Error).message}`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  };
  // Traces only when OTEL_* ask for them: imported on demand, so with tracing off no OpenTelemetry SDK is loaded.
  const tracing = config.tracing
    ? (await import('./observability/tracing.js')).startTracing(config.tracing)
    : undefined;
  // Metrics only when METRICS_TOKEN or METRICS_PORT says where to serve them; prom-client is not loaded otherwise.
  const metrics = config.metrics ? await startMetrics() : undefined;
  const runtime = await openRuntime(config, log, {
    cursorSecret: tokenSecret,
    replicas: true,
    queryObservers: [...(tracing ? [tracing.queryObserver] : []), ...(metrics ? [metrics.collector.onQuery] : [])],
  }).catch(failStart);
  metrics?.collector.observe(runtime);
  if (tracing) {
    tracing.setDatabaseKind(runtime.database.kind);
    tracing.traceHasher(runtime.hasher);
  }
  if (config.migrateOnStart) {
    const applied = await runtime.migrator.up();
    if (applied.length) log(`applied migrations: ${applied.join(', ')}`);
  }
  const warnings: string[] = [];
  const app = await buildApp({
    ...runtime,
    tokenSecret,
    tokenMinutes: config.tokenMinutes,
    access: config.access,
    warn: (message) => warnings.push(message),
    totalsTtlMs: config.totalsTtlMs,
    bodyLimitBytes: config.bodyLimitBytes,
    // Fastify takes a hop count too (proxy-addr), though its types list only the other forms.
    trustProxy: config.trustProxy as AppDeps['trustProxy'],
    logger: await loggerOptions(
      { level: config.logLevel, format: config.logFormat },
      tracing ? { mixin: tracing.mixin } : {},
    ),
    ...(tracing ? { tracing } : {}),
    ...(metrics ? { metrics: { ...metrics, token: config.metrics?.token } } : {}),
    overload: config.overload,
    corsOrigins: config.corsOrigins,
    auditRetentionDays: config.auditRetentionDays,
    principalCacheSize: config.principalCacheSize,
    mail: config.mail,
    ...(config.redis.url ? { redis: { url: config.redis.url, cacheTtlMs: config.redis.cacheTtlMs } } : {}),
    adminConsoleDir: builtConsoleDir(),
  });
  const bootstrapped = await ensureFirstSuperuser(
    new UserService(runtime.database, runtime.hasher),
    config.access.firstSuperuser,
  ).catch(failStart);
  if (bootstrapped) log(bootstrapped);
  for (const warning of warnings) app.log.warn(warning);
  // Fastify leaves Node's request timeout off: a client dribbling its body could hold a connection for minutes.
  // Past REQUEST_TIMEOUT_MS the request gets 408 and its connection is closed. Node checks these timeouts every
  // connectionsCheckingInterval (30 s by default, read when the server starts listening), so the check runs
  // more often here to keep the bound close to the setting.
  app.server.requestTimeout = config.requestTimeoutMs;
  app.server.headersTimeout = Math.min(config.requestTimeoutMs, app.server.headersTimeout || 60_000);
  (app.server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(
    1_000,
    Math.ceil(config.requestTimeoutMs / 10),
  );
  // METRICS_PORT: this process's own listener; in a cluster the primary has it and sums the workers.
  const metricsUrl = await metricsListener(config, metrics, app).catch(failStart);
  stopGracefully(app, async () => runtime.database.close(), config.shutdownTimeoutMs);
  const address = await app.listen({ host: config.host, port: config.port }).catch(failStart);
  const base = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
  if (options.quiet) return app;
  const pending = await runtime.migrator.pending();
  log(
    [
      `user-service listening on ${address} (ready in ${Math.round(performance.now() - startedAt)} ms)`,
      `  docs:     ${base}/docs`,
      `  admin:    ${base}/admin`,
      `  database: ${runtime.database.displayUrl} (${runtime.database.kind})`,
      ...(config.replicaUrls.length > 0
        ? [
            `  replicas: ${runtime.database
              .replicaStatus()
              .map((r) => `${r.url} (${r.healthy ? 'in rotation' : 'not answering yet'})`)
              .join(', ')}`,
          ]
        : []),
      pending.length
        ? `  WARNING: ${pending.length} migration(s) pending: run "npm run migrate -- up"`
        : '  schema:   at head',
      `  metrics:  ${metricsUrl ?? (config.metrics?.token ? `${base}/metrics (METRICS_TOKEN)` : 'off (set METRICS_TOKEN or METRICS_PORT)')}`,
      `  mail:     ${describeMail(config.mail)}`,
      `  redis:    ${config.redis.url ? `${redactUrl(config.redis.url)} (${config.redis.cacheTtlMs ? `user cache ${config.redis.cacheTtlMs} ms, ` : 'no cache, '}shared rate limits)` : 'off (set REDIS_URL to share the cache and rate limits between instances)'}`,
      `  access:   ${config.access.authRequired ? 'sign-in required' : 'OPEN (AUTH_REQUIRED=false)'}; registration ${config.access.registration}; tokens ${config.access.jwtAlgorithm}`,
      ...warnings.map((warning) => `  ${warning}`),
    ].join('\n'),
  );
  return app;
}

/** Signals of a native crash: left to their default action (see stopGracefully). */
const FATAL_SIGNALS = ['SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGABRT', 'SIGTRAP'] as const;

/**
 * How the process ends (close-with-grace): on SIGTERM, SIGINT (and SIGHUP...) it stops accepting connections,
 * lets in-flight requests finish, closes the database and exits 0. On an uncaught exception or an unhandled
 * rejection it logs the error at fatal with the ids of the requests in flight (the one that failed is among
 * them), then stops the same way and exits 1, so a cluster primary starts a replacement. If stopping takes
 * longer than SHUTDOWN_TIMEOUT_MS it logs that and exits 1 at once.
 *
 * In a cluster worker SIGINT and SIGTERM come twice when Ctrl-C reaches the whole process group and the primary
 * forwards its own: the worker acts on the first and ignores the rest (the primary enforces its own deadline).
 * A single process treats a second signal as "now": it exits 1 at once.
 */
export function stopGracefully(app: FastifyInstance, closeDatabase: () => Promise<void>, timeoutMs: number): void {
  let workerSignal: NodeJS.Signals | undefined;
  const grace = closeWithGrace(
    {
      delay: timeoutMs,
      logger: { error: (message: unknown) => app.log.error(message) },
      // Not these: a real SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT/SIGTRAP (a native crash) leaves no state safe to run
      // JavaScript in; with a listener the process could hang instead of dying and being replaced. beforeExit: a
      // server only gets there once closed by someone else (a test's app.close()).
      skip: [...FATAL_SIGNALS, 'beforeExit', ...(cluster.isWorker ? (['SIGINT', 'SIGTERM'] as const) : [])],
      onTimeout: (delay) =>
        app.log.fatal(`shutdown did not finish within SHUTDOWN_TIMEOUT_MS (${delay} ms): exiting with status 1`),
      onSecondSignal: (signal) => app.log.warn({ signal }, 'second signal while shutting down: exiting now'),
      onSecondError: (err) => app.log.fatal({ err }, 'another uncaught error while shutting down: exiting now'),
    },
    async ({ signal, err }) => {
      if (err) {
        app.log.fatal(
          { err, requests_in_flight: app.requestsInFlight() },
          'uncaught error: shutting down (the request that caused it, if any, is among requests_in_flight)',
        );
      } else {
        app.log.info({ signal: signal ?? workerSignal }, 'shutting down: finishing in-flight requests');
      }
      await app.close();
      await closeDatabase();
      app.log.info('stopped');
    },
  );
  // Closed by its owner instead (tests that serve in-process): the process's handlers go with it.
  app.addHook('onClose', async () => grace.uninstall());
  if (cluster.isWorker) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        if (workerSignal) return;
        workerSignal = signal;
        grace.close();
      });
    }
  }
}

/** The metrics collector and how this process answers a scrape (its own registry, or the cluster's sum). */
async function startMetrics(): Promise<{ collector: ServiceMetrics; render: RenderMetrics }> {
  const { ServiceMetrics } = await import('./observability/metrics.js');
  const collector = new ServiceMetrics();
  if (!cluster.isWorker) return { collector, render: () => collector.render() };
  const { workerMetrics } = await import('./observability/cluster-metrics.js');
  return { collector, render: workerMetrics(collector.registry) };
}

/** Starts the METRICS_PORT listener of a single-process server (closed with the app); its URL, if any. */
async function metricsListener(
  config: Config,
  metrics: { render: RenderMetrics } | undefined,
  app: FastifyInstance,
): Promise<string | undefined> {
  if (!metrics || config.metrics?.port === undefined || cluster.isWorker) return undefined;
  const { listenForMetrics } = await import('./observability/metrics-listener.js');
  const listener = await listenForMetrics(
    { host: config.metrics.host, port: config.metrics.port, token: config.metrics.token },
    metrics.render,
  );
  app.addHook('onClose', () => listener.close());
  return listener.url;
}
