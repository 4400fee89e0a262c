import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { generatedTokenSecret, openRuntime } from './runtime.js';

/**
 * Starts the HTTP service: database, migrations (when configured), app, listen, signals. Resolves once it
 * listens; SIGTERM/SIGINT stop accepting, let in-flight requests finish, then close the pool.
 */
export async function serve(config: Config, options: { quiet?: boolean } = {}): Promise<FastifyInstance> {
  const startedAt = performance.now();
  const log = (message: string) => process.stderr.write(`${message}\n`);
  const tokenSecret = config.jwtSecret ?? generatedTokenSecret(log);
  const runtime = await openRuntime(config, log, { cursorSecret: tokenSecret });
  if (config.migrateOnStart) {
    const applied = await runtime.migrator.up();
    if (applied.length) log(`applied migrations: ${applied.join(', ')}`);
  }
  const app = await buildApp({
    ...runtime,
    tokenSecret,
    tokenMinutes: config.tokenMinutes,
    totalsTtlMs: config.totalsTtlMs,
    bodyLimitBytes: config.bodyLimitBytes,
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    },
  });
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
  const address = await app.listen({ host: config.host, port: config.port });
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
    ].join('\n'),
  );
  return app;
}
