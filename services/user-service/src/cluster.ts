import cluster from 'node:cluster';
import type { Config } from './config.js';
import { generatedTokenSecret } from './runtime.js';

const log = (message: string) => process.stderr.write(`${message}\n`);

/**
 * The primary of a multi-process server: forks `config.workers` processes that share the listening port and
 * opens no database itself. Each worker migrates on start when configured (the migration lock would keep two
 * from applying at once; starting one first makes the others find nothing to do). The primary restarts a worker that
 * dies unexpectedly and forwards SIGTERM/SIGINT so every worker drains its in-flight requests first.
 */
export async function runPrimary(config: Config): Promise<void> {
  let stopping = false;
  let exitCode = 0;
  // Every worker must sign and accept the same tokens: an unset secret is generated once, here.
  const secret = config.jwtSecret ?? generatedTokenSecret(log);
  const fork = () => cluster.fork({ JWT_SECRET: secret });
  // One worker first, the rest once it listens: the first gets the cores to itself and serves sooner, and the
  // others find the schema migrated.
  fork();
  log(`user-service primary ${process.pid}: ${config.workers} workers`);
  const listening = new Set<number>();
  cluster.on('listening', (worker) => {
    listening.add(worker.id);
    if (listening.size === 1 && !stopping) for (let i = 1; i < config.workers; i++) fork();
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
      return;
    }
    if (!listening.has(worker.id)) {
      // It never started (bad configuration, database unreachable): restarting would only repeat that.
      exitCode = 1;
      stop('SIGTERM');
      return;
    }
    log(`worker ${worker.process.pid} exited (${signal ?? code}); starting a new one`);
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(exitCode);
    for (const worker of workers) worker?.process.kill(signal);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
