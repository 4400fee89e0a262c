import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * Security headers on every answer (helmet's defaults: nosniff, frame protection, a Content-Security-Policy
 * that allows only same-origin scripts and styles, which is what /docs needs), and `Cache-Control: no-store`
 * on every API answer: they carry personal data and tokens, which no shared cache may keep.
 */
export async function registerSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        // Browsers would rewrite /docs' own assets to https:// on a plain-HTTP deployment (and on localhost).
        upgradeInsecureRequests: null,
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
  });
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
  });
}
