import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Whether this request is still counted in the in-flight gauge (observability/http-metrics.ts). */
    inFlight: boolean;
  }
}

/**
 * Counts requests in flight and times every answered request by method, route template and status. A request
 * leaves the gauge when its answer has been sent (onResponse) or when the client gave up first (onRequestAbort),
 * whichever comes first, once. Routes no route matched are labelled `unmatched`, so unknown paths cannot grow
 * the label set.
 */
export function registerHttpMetrics(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.decorateRequest('inFlight', false);
  const leave = (request: { inFlight: boolean }) => {
    if (!request.inFlight) return;
    request.inFlight = false;
    metrics.requestEnded();
  };
  app.addHook('onRequest', (request, _reply, done) => {
    request.inFlight = true;
    metrics.requestStarted();
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    leave(request);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    leave(request);
    metrics.requestAnswered(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
}
