import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from './metrics.js';

/**
 * Times every answered request by method, route template and status, in the one onResponse hook. Routes no
 * route matched are labelled `unmatched`, so unknown paths cannot grow the label set. Requests in flight are
 * not counted here: the gauge reads, at scrape time, the set the access log already keeps for crash reports
 * (observability/access-log.ts), so metrics add no per-request work for it.
 */
export function registerHttpMetrics(app: FastifyInstance, metrics: ServiceMetrics): void {
  metrics.countRequestsInFlight(() => app.requestsInFlight().length);
  app.addHook('onResponse', (request, reply, done) => {
    metrics.requestAnswered(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
}
