import cluster from 'node:cluster';
import type { Config } from './config.js';
import { generatedTokenSecret, openRuntime } from './runtime.js';

const log = (message: string) => process.stderr.write(`${message}\n`);

/**
 * The primary of a multi-process server: migrates once (so workers do not queue on the migration lock), then
 * forks `config.workers` processes that share the listening port. It restarts a worker that dies unexpectedly
 * and forwards SIGTERM/SIGINT so every worker drains its in-flight requests before the primary exits.
 */
export async function runPrimary(config: Config): Promise<void> {
  if (config.migrateOnStart) {
    const runtime = await openRuntime(config, log);
    try {
      const applied = await runtime.migrator.up();
      if (applied.length) log(`applied migrations: ${applied.join(', ')}`);
    } finally {
      await runtime.database.close();
    }
  }
  let stopping = false;
  // Every worker must sign and accept the same tokens: an unset secret is generated once, here.
  const secret = config.jwtSecret ?? generatedTokenSecret(log);
  const fork = () => cluster.fork({ MIGRATE_ON_START: 'false', JWT_SECRET: secret });
  for (let i = 0; i < config.workers; i++) fork();
  log(`user-service primary ${process.pid}: ${config.workers} workers`);
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log(`worker ${worker.process.pid} exited (${signal ?? code}); starting a new one`);
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
