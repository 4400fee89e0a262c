import type { FastifyPluginAsync } from 'fastify';
import { OverloadedError } from '../errors.js';
import type { RenderMetrics } from './metrics-listener.js';

/**
 * `GET /metrics` on the API port, registered only when METRICS_TOKEN is set: the access policy's `metrics`
 * rule lets through nothing but that token as a bearer token. Left out of the OpenAPI document: it is for
 * Prometheus, not for API clients.
 */
export const metricsRoutes: FastifyPluginAsync<{ render: RenderMetrics }> = async (app, { render }) => {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    let rendered: Awaited<ReturnType<RenderMetrics>>;
    try {
      rendered = await render();
    } catch (error) {
      throw new OverloadedError(`Metrics are not available: ${(error as Error).message}`, 5);
    }
    return reply.type(rendered.contentType).send(rendered.text);
  });
};
