import type { FastifyInstance, RouteOptions } from 'fastify';
import { type ErrorCode, errors } from './common.schemas.js';

/**
 * Adds to every route's OpenAPI entry the error answers the framework itself can give on it, so every status
 * the service sends is in the document: 400 for a malformed URL, 414 for an over-long path segment, 503 when the
 * database is unreachable or the process is overloaded; 422 wherever there is input to validate; 413 and 415 wherever a body can be sent.
 * Routes still declare their own (404, 409...). Registered before the routes and before @fastify/swagger reads
 * them.
 */
export function documentFrameworkErrors(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema;
    if (!schema || (schema as { hide?: boolean }).hide) return;
    const codes: ErrorCode[] = [400, 414];
    if (schema.body || schema.querystring || schema.params) codes.push(422);
    // Fastify reads a body on these methods whether or not the route declares one (a DELETE with a
    // text/plain body is a 415), so they are documented wherever they can happen.
    const methods = ([] as string[]).concat(route.method);
    if (schema.body || methods.some((m) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(m))) codes.push(413, 415);
    // 503: the database is unreachable (API routes), or the process is shedding load (every route but the
    // health probes, see http/overload.ts).
    if (!String(route.url).startsWith('/health')) codes.push(503);
    const response = (schema.response ?? {}) as Record<string, unknown>;
    for (const [code, entry] of Object.entries(errors(...codes))) response[code] ??= entry;
    schema.response = response;
  });
}
