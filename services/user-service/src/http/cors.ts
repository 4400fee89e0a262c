/**
 * CORS for browser front-ends on other origins (CORS_ORIGINS). Off by default: without the variable no
 * response carries a CORS header and browsers keep other origins' scripts out, as before.
 *
 * A list of exact origins: a listed origin gets `Access-Control-Allow-Origin: <origin>` and
 * `Access-Control-Allow-Credentials: true` (tokens here travel in headers, not cookies, but a front-end may send
 * credentials), preflights are answered, and any other origin gets no CORS header at all. `*`: any origin may
 * read answers, never with credentials (browsers refuse `*` with credentials anyway).
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/**
 * Answer headers a browser script may read besides the simple ones (traceresponse: the request's trace, when
 * tracing is on, see observability/tracing.ts).
 */
const EXPOSED = ['location', 'retry-after', 'traceresponse', 'www-authenticate', 'x-consistency-token', 'x-request-id'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Registers CORS for `origins` (exact origins, or ['*']); nothing when the list is empty. Register it before the
 * access layer so a preflight (which carries no credentials) is answered before authentication.
 */
export async function registerCors(app: FastifyInstance, origins: readonly string[] | '*'): Promise<void> {
  if (origins !== '*' && origins.length === 0) return;
  const any = origins === '*';
  const allowed = new Set(any ? [] : origins);
  await app.register(cors, {
    // A function, so that an origin not listed gets no CORS header at all (a list would still get the
    // preflight's Allow-Methods/Allow-Headers).
    origin: any ? '*' : (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: !any,
    methods: METHODS,
    exposedHeaders: EXPOSED,
    maxAge: 600,
  });
}
