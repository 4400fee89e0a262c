/**
 * AUDIT_RETENTION_DAYS in a running service: one prune shortly after start, then one a day. In a cluster every
 * worker runs its own; that is harmless: prunes delete by id in short batches, a row another worker already
 * deleted is simply not counted, and the daily cost is a few indexed reads per worker.
 */
import type { FastifyInstance } from 'fastify';
import type { AuditService } from './audit.service.js';

export const PRUNE_INTERVAL_MS = 86_400_000;

export interface RetentionOptions {
  days: number;
  /** Told what each prune did, or why it failed (a failure waits for the next day; it never stops the service). */
  log: { info(message: string): void; warn(error: unknown, message: string): void };
  now?: () => Date;
  intervalMs?: number;
}

export interface Retention {
  /** The prune the timer runs, at the injected clock's now; resolves to how many events it deleted. */
  runOnce(): Promise<number>;
  /** Stops the timer and waits for a prune in progress (before the database closes). */
  stop(): Promise<void>;
}

export function startRetention(audit: AuditService, options: RetentionOptions): Retention {
  const now = options.now ?? (() => new Date());
  let running: Promise<number> | undefined;
  let stopped = false;

  const runOnce = (): Promise<number> => {
    // One prune at a time: a slow one is not doubled by the next tick.
    running ??= audit
      .applyRetention(options.days, now())
      .then((deleted) => {
        if (deleted > 0) options.log.info(`audit log: pruned ${deleted} events older than ${options.days} days`);
        return deleted;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const tick = () => {
    if (!stopped) runOnce().catch((error: unknown) => options.log.warn(error, 'audit log prune failed'));
  };

  // Neither timer keeps the process alive: the server does, and a process that is ending need not prune.
  const first = setTimeout(tick, 0);
  first.unref();
  const daily = setInterval(tick, options.intervalMs ?? PRUNE_INTERVAL_MS);
  daily.unref();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(daily);
      await running?.catch(() => {});
    },
  };
}

/**
 * Prunes from the app's ready (listen) on, not while it is only being built, and stops before the database
 * closes (onClose hooks run before the server's caller closes the pool).
 */
export function registerAuditRetention(app: FastifyInstance, audit: AuditService, days: number): void {
  let retention: Retention | undefined;
  app.addHook('onReady', async () => {
    retention = startRetention(audit, {
      days,
      log: { info: (message) => app.log.info(message), warn: (err, message) => app.log.warn({ err }, message) },
    });
  });
  app.addHook('onClose', async () => retention?.stop());
}
