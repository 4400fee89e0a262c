import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config.js';
import { EXIT_CONFIG } from './exit-codes.js';
import { generatedTokenSecret } from './token-secret.js';
import { workerExecArgv } from './worker-heap.js';

const log = (message: string) => process.stderr.write(`${message}\n`);

/** Restart delays: doubling from the first to the cap while workers keep failing. */
const RESTART_FIRST_DELAY_MS = 500;
const RESTART_MAX_DELAY_MS = 30_000;
/** A worker that listened this long counts as healthy: its death restarts at once and resets the backoff. */
const HEALTHY_AFTER_MS = 10_000;
/**
 * How long past SHUTDOWN_TIMEOUT_MS the primary waits for its workers when stopping: each worker enforces the
 * deadline on itself; a worker still there after this margin is hung (or stopped) and is killed.
 */
export const SHUTDOWN_MARGIN_MS = 2_000;

/**
 * The primary of a multi-process server: forks `config.workers` processes that share the listening port and
 * opens no database itself. Each worker migrates on start when configured (the migration lock would keep two
 * from applying at once; starting one first makes the others find nothing to do). SIGTERM/SIGINT are forwarded
 * so every worker drains its in-flight requests first.
 *
 * The primary never gives up on its own: healthy workers keep serving whatever happens to the others. A worker
 * that dies is replaced, at once if it had been healthy, otherwise after a delay that doubles with each
 * consecutive failure up to 30 s (the database may be down for a while; a tight loop would only burn CPU and
 * fill the log). Each death is logged with its exit code or signal and whether the worker ever listened; the
 * worker itself has already written its reason ("failed to start: ...") to the same stderr.
 *
 * One exception: before any worker has ever listened, a worker that exits with EXIT_CONFIG (the database named
 * by DATABASE_URL does not exist, its credentials are refused, the port is taken) stops the primary with
 * status 1. That is a deployment mistake met at the very first start, which no restart fixes and which an
 * operator watching the start should see at once. The same code later (e.g. a password rotated under a
 * running service) is treated like any failure: the serving workers carry on and the slot is retried.
 */
export async function runPrimary(config: Config): Promise<void> {
  let stopping = false;
  let exitCode = 0;
  let everListened = false;
  let failures = 0;
  const restarts = new Set<NodeJS.Timeout>();
  const listeningSince = new Map<number, number>();
  // Every worker must sign and accept the same tokens: an unset secret is generated once, here.
  const secret = config.jwtSecret ?? generatedTokenSecret(log);
  // Workers run with the primary's Node flags plus a heap limit that keeps their peak RSS down (worker-heap.ts).
  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
  const fork = (): Worker => cluster.fork({ JWT_SECRET: secret });

  // Metrics: the primary sums its workers' registries for every scrape; METRICS_PORT is its own listener.
  if (config.metrics) {
    const { primaryMetrics } = await import('./observability/cluster-metrics.js');
    const render = primaryMetrics();
    if (config.metrics.port !== undefined) {
      const { listenForMetrics } = await import('./observability/metrics-listener.js');
      const { url } = await listenForMetrics(
        { host: config.metrics.host, port: config.metrics.port, token: config.metrics.token },
        render,
      );
      log(`user-service primary ${process.pid}: metrics (sum over the workers) on ${url}`);
    }
  }

  // One worker first, the rest once it listens: the first gets the cores to itself and serves sooner, and the
  // others find the schema migrated.
  fork();
  log(`user-service primary ${process.pid}: ${config.workers} workers`);

  cluster.on('listening', (worker) => {
    listeningSince.set(worker.id, Date.now());
    // Said at start and again whenever replacements have brought the service back to full strength.
    if (listeningSince.size === config.workers)
      log(`user-service primary ${process.pid}: all ${config.workers} workers listening`);
    if (everListened || stopping) return;
    everListened = true;
    for (let i = 1; i < config.workers; i++) fork();
  });

  cluster.on('exit', (worker, code, signal) => {
    const since = listeningSince.get(worker.id);
    listeningSince.delete(worker.id);
    if (stopping) {
      // A worker that missed its deadline or failed while stopping makes the whole stop a failure. One ended by
      // the very signal passed on was still starting (a worker handles that signal from before it listens).
      if ((signal && signal !== stopSignal) || (!signal && code !== 0)) {
        log(
          `worker ${worker.process.pid} ${signal ? `was killed by ${signal}` : `exited with code ${code}`} while stopping`,
        );
        exitCode = 1;
      }
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
      return;
    }
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const when =
      since === undefined ? 'before it listened' : `after listening for ${Math.round((Date.now() - since) / 1000)} s`;
    if (!everListened && code === EXIT_CONFIG) {
      log(`worker ${worker.process.pid} ${how} ${when}: a configuration error at start-up; stopping`);
      exitCode = 1;
      stop('SIGTERM');
      return;
    }
    const healthy = since !== undefined && Date.now() - since >= HEALTHY_AFTER_MS;
    failures = healthy ? 0 : failures + 1;
    const delay = failures === 0 ? 0 : Math.min(RESTART_MAX_DELAY_MS, RESTART_FIRST_DELAY_MS * 2 ** (failures - 1));
    const serving = listeningSince.size;
    log(
      `worker ${worker.process.pid} ${how} ${when}; ${serving} worker(s) serving; starting a replacement ${
        delay ? `in ${delay} ms (failure ${failures} in a row)` : 'now'
      }`,
    );
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!stopping) fork();
    }, delay);
    restarts.add(timer);
  });

  let stopSignal: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    stopSignal = signal;
    for (const timer of restarts) clearTimeout(timer);
    restarts.clear();
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(exitCode);
    for (const worker of workers) worker?.process.kill(signal);
    // Each worker exits by SHUTDOWN_TIMEOUT_MS whatever happens to its requests; one that has not by then plus a
    // margin is hung: kill what is left and say so with the exit status.
    const deadline = config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS;
    setTimeout(() => killRemaining(`workers still running ${deadline} ms after ${signal}`), deadline).unref();
  };
  const killRemaining = (why: string) => {
    const left = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined);
    log(`user-service primary ${process.pid}: ${why}: killing ${left.map((w) => w.process.pid).join(', ') || 'none'}`);
    for (const worker of left) worker.process.kill('SIGKILL');
    process.exit(1);
  };
  // A second signal (Ctrl-C twice) means now.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => (stopping ? killRemaining(`second ${signal}`) : stop(signal)));
  }
}
