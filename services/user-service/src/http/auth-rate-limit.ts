/**
 * The general per-IP limit on the auth endpoints (login, refresh, registration, ...), with
 * @fastify/rate-limit: a cheap first line in front of the database-backed LoginGuard. Without Redis it counts
 * in the process's memory, so each process allows `perMinute`; with REDIS_URL it counts in Redis (the `store`,
 * cache/rate-limit-store.ts), shared by every instance, and per process again while Redis is unreachable. The
 * lockout that must hold across processes in every case is the LoginGuard's (in the database).
 */
import rateLimit, { type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { TooManyRequestsError } from '../errors.js';
import { errors } from './common.schemas.js';

/** Every route under this prefix shares one budget per client IP. */
export const AUTH_ROUTE_PREFIX = '/api/v1/auth/';

/**
 * Limits every route whose URL starts with /api/v1/auth/ to `perMinute` requests per client IP per minute,
 * shared across those routes; past it, 429 in the `{"detail": ...}` shape with Retry-After. Must be awaited
 * before those routes are registered (it adds an onRoute hook); other routes are not limited.
 */
export async function registerAuthRateLimit(
  app: FastifyInstance,
  options: { perMinute: number; store?: FastifyRateLimitStoreCtor },
): Promise<void> {
  await app.register(rateLimit, {
    // The mail routes' limits (route config) count in the same store.
    ...(options.store ? { store: options.store } : {}),
    // Only where asked: no limit on every route.
    global: false,
    // Thrown into our error handler: 429, Retry-After, {"detail": "Too many requests; try again in N seconds"}.
    errorResponseBuilder: (_request, context) => new TooManyRequestsError(context.ttl / 1000),
  });
  // One limiter (one store) for all auth routes: a client cannot get perMinute on each of them.
  const limit = app.rateLimit({ max: options.perMinute, timeWindow: 60_000 }) as unknown as onRequestHookHandler;
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith(AUTH_ROUTE_PREFIX)) return;
    // In the document too: every limited route can answer 429.
    if (route.schema && !(route.schema as { hide?: boolean }).hide) {
      const response = (route.schema.response ?? {}) as Record<string, unknown>;
      response[429] ??= errors(429)[429];
      route.schema.response = response;
    }
    const hooks = route.onRequest;
    route.onRequest = hooks === undefined ? [limit] : Array.isArray(hooks) ? [...hooks, limit] : [hooks, limit];
  });
}
