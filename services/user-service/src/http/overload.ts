/**
 * Load shedding: when the event loop falls behind, requests are answered at once with 503 + Retry-After instead
 * of joining a queue that only grows (every waiting request holds a socket and memory, and answers that come
 * too late are wasted work). @fastify/under-pressure samples the event loop's delay (and, when asked, its
 * utilisation) every `sampleIntervalMs` and refuses requests while a threshold is exceeded; liveness and
 * readiness keep answering, so an orchestrator does not restart a process that is only busy.
 */
import underPressure, { type FastifyUnderPressureOptions } from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface OverloadOptions {
  /** Mean event-loop delay over a sample (ms) past which requests get 503; 0 turns the check off. */
  maxEventLoopDelayMs: number;
  /** Event-loop utilisation (0-1) over a sample past which requests get 503; 0 turns the check off. */
  maxEventLoopUtilization: number;
  /** How often the event loop is sampled (ms). */
  sampleIntervalMs?: number;
}

/** What an overloaded process asks clients to wait, in seconds. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 2;

/** Routes that answer whatever the load: an orchestrator's probes. */
const EXEMPT = new Set(['/health', '/health/ready']);

/** Registers the guard; a no-op when both thresholds are 0. Register it before the access layer. */
export async function registerOverloadGuard(app: FastifyInstance, options: OverloadOptions): Promise<void> {
  if (options.maxEventLoopDelayMs <= 0 && options.maxEventLoopUtilization <= 0) return;
  // One warning per 10 s at most while shedding (each refused request still has its access line).
  let warnedAt = 0;
  // Building the app and compiling its schemas block the loop for a while after the plugin starts measuring;
  // the guard is armed once two samples have passed since the app became ready, so that start-up's own lag
  // never refuses the first requests.
  const sampleIntervalMs = options.sampleIntervalMs ?? 1000;
  let armedAt = Number.POSITIVE_INFINITY;
  app.addHook('onReady', async () => {
    armedAt = performance.now() + 2 * sampleIntervalMs;
  });
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxEventLoopUtilization: options.maxEventLoopUtilization,
    // The utilisation of the last sample, not the average since the process started (the plugin's default).
    eventLoopUtilizationMode: 'interval',
    sampleInterval: sampleIntervalMs,
    // A returned body is sent as the answer (the plugin's types say void; its code sends what is returned).
    pressureHandler: ((request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => {
      if (EXEMPT.has(request.routeOptions.url ?? '') || performance.now() < armedAt) return undefined;
      if (Date.now() - warnedAt > 10_000) {
        warnedAt = Date.now();
        request.log.warn({ type, value }, 'overloaded: refusing requests with 503');
      }
      reply.code(503).header('retry-after', String(OVERLOAD_RETRY_AFTER_SECONDS));
      return { detail: 'Service temporarily overloaded; retry after the Retry-After delay' };
    }) as unknown as FastifyUnderPressureOptions['pressureHandler'],
  });
}
