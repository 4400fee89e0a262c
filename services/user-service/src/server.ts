import cluster from 'node:cluster';
import { DatabaseUrlError } from '@user-service/data';
import type { FastifyInstance } from 'fastify';
import { type AppDeps, buildApp } from './app.js';
import { ensureFirstSuperuser } from './auth/first-superuser.js';
import { type Config, ConfigError } from './config.js';
import { EXIT_CONFIG } from './exit-codes.js';
import { generatedTokenSecret, openRuntime } from './runtime.js';
import { UserService } from './users/user.service.js';

/**
 * Starts the HTTP service: database, migrations (when configured), app, listen, signals. Resolves once it
 * listens; SIGTERM/SIGINT stop accepting, let in-flight requests finish, then close the pool.
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
  const runtime = await openRuntime(config, log, { cursorSecret: tokenSecret }).catch(failStart);
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
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
    },
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
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
    await runtime.database.close();
    app.log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  const address = await app.listen({ host: config.host, port: config.port }).catch(failStart);
  const base = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
  if (options.quiet) return app;
  const pending = await runtime.migrator.pending();
  log(
    [
      `user-service listening on ${address} (ready in ${Math.round(performance.now() - startedAt)} ms)`,
      `  docs:     ${base}/docs`,
      `  database: ${runtime.database.displayUrl} (${runtime.database.kind})`,
      pending.length
        ? `  WARNING: ${pending.length} migration(s) pending: run "npm run migrate -- up"`
        : '  schema:   at head',
      `  access:   ${config.access.authRequired ? 'sign-in required' : 'OPEN (AUTH_REQUIRED=false)'}; registration ${config.access.registration}; tokens ${config.access.jwtAlgorithm}`,
      ...warnings.map((warning) => `  ${warning}`),
    ].join('\n'),
  );
  return app;
}
