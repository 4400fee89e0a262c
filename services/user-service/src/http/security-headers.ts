import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

const OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      // Browsers would rewrite /docs' own assets to https:// on a plain-HTTP deployment (and on localhost).
      upgradeInsecureRequests: null,
      frameAncestors: ["'none'"],
    },
  },
  frameguard: { action: 'deny' },
};

/**
 * helmet's headers for our options, computed once. They do not depend on the request (no CSP nonces), and
 * running helmet (or @fastify/helmet) on every request cost a third of the throughput of a lookup by id
 * (npm run bench, SQLite, 20k users: 9.6k -> 6.0k req/s); setting a precomputed set costs next to nothing.
 */
export function helmetHeaders(options: HelmetOptions = OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  let error: unknown;
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => {
    error = err;
  });
  if (error) throw error;
  return headers;
}

/**
 * Security headers on every answer (helmet's: nosniff, frame protection, a Content-Security-Policy that allows
 * only same-origin scripts and styles, which is what /docs needs), and `Cache-Control: no-store` on every API
 * answer: they carry personal data and tokens, which no shared cache may keep.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  const headers = helmetHeaders();
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.headers(headers);
    if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
}
