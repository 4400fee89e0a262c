import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

export interface AdminConsoleOptions {
  /** The built console (scripts/build.mjs writes dist/admin: index.html and assets/ with hashed names). */
  dir: string;
}

/**
 * The console's own policy, stricter than the API's: scripts, styles and requests from this origin only, no
 * inline script or style, no plugins, no framing, no form posting anywhere (the sign-in form is sent by script;
 * if the script failed, a browser must not submit the password in a query string), and Trusted Types so that
 * no string can become markup or script through the DOM.
 */
export const ADMIN_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types',
].join('; ');

/** The pages the console answers with its one HTML document (it routes on the client). */
export const CONSOLE_PAGES = ['/admin', '/admin/*', '/verify-email', '/reset-password'] as const;

/**
 * The admin console (src/admin/ui, bundled by scripts/build.mjs): one HTML document for every console page
 * and hashed, immutable assets. The pages are public, like /docs: what they show comes from the same /api/v1
 * endpoints, under the same access policy, with the signed-in user's token. /verify-email and /reset-password
 * are where the links in the service's mails point (mail/templates.ts).
 */
export const adminConsoleRoutes: FastifyPluginAsync<AdminConsoleOptions> = async (app, { dir }) => {
  let index: Buffer | undefined;
  try {
    index = readFileSync(join(dir, 'index.html'));
  } catch {
    app.log.warn(`admin console not built (${join(dir, 'index.html')} missing): run npm run build`);
  }
  // Encapsulated hook: only the console's answers get its policy (the app's onSend has set the API's before).
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('content-security-policy', ADMIN_CSP);
    done(null, payload);
  });
  // Names carry a content hash: a browser may keep them for a year and never ask again.
  await app.register(fastifyStatic, {
    root: join(dir, 'assets'),
    prefix: '/admin/assets/',
    index: false,
    decorateReply: false,
    immutable: true,
    maxAge: '365d',
    // Nothing but the build's own files: no dotfile, whatever lands in the folder.
    dotfiles: 'deny',
  });
  const page = async (_request: unknown, reply: FastifyReply) => {
    if (!index) {
      return reply.code(503).header('retry-after', '60').send({ detail: 'The admin console is not built' });
    }
    // Revalidated on every visit, so a new build's asset names reach the browser at once.
    return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };
  for (const url of CONSOLE_PAGES) app.get(url, { schema: { hide: true } }, page);
};

/**
 * Where the built console is: dist/admin beside the running bundle (dist/*.js under `npm start`), or the
 * service's dist/admin when this file runs from src/ under tsx (start:dev, the tests), as `npm run build` makes it.
 */
export function builtConsoleDir(): string {
  const relative = import.meta.url.includes('/dist/') ? './admin/' : '../../dist/admin/';
  return fileURLToPath(new URL(relative, import.meta.url));
}
