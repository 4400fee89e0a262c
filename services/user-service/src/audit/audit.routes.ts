import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { signedIn } from '../auth/auth.routes.js';
import { errors, refTo } from '../http/common.schemas.js';
import { AUDIT_SCHEMAS, AuditEventListPublic, AuditListQuery, MyAuditListQuery } from './audit.schemas.js';
import type { AuditService } from './audit.service.js';
import type { AuditEventName } from './audit-events.js';

const tags = ['audit'];
const list = refTo(AuditEventListPublic);

/** Maps HTTP to AuditService. Who may call each route is the access policy's business (access/policy.ts). */
export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditService }> = async (app, { audit }) => {
  // Registered here (unless the app already has them) so the plugin brings its own OpenAPI components.
  for (const schema of AUDIT_SCHEMAS) if (schema.$id && !app.getSchema(schema.$id)) app.addSchema(schema);

  app.get(
    '/audit-events',
    {
      schema: {
        tags,
        summary: 'The audit log (superusers)',
        description:
          'Security and administrative events, newest first, in keyset pages: pass `next_cursor` as `after` with the same filters for the next page. `user_id` matches the user an event concerns, `actor_id` the user or API key that did it; `from` is inclusive, `to` exclusive.',
        querystring: AuditListQuery,
        response: { 200: list, ...errors(401, 403, 422, 503) },
      },
    },
    async (request) => {
      const q = request.query;
      return audit.list({
        limit: q.limit,
        after: q.after,
        userId: q.user_id,
        actorId: q.actor_id,
        event: q.event as AuditEventName | undefined,
        from: q.from,
        to: q.to,
      });
    },
  );

  app.get(
    '/users/me/audit-events',
    {
      schema: {
        tags,
        summary: "Your own account's security events",
        description:
          'Sign-ins (and failed ones), logouts, sessions ended, password and email changes on your account, newest first, in keyset pages as GET /audit-events.',
        security: [{ bearerAuth: [] }],
        querystring: MyAuditListQuery,
        response: { 200: list, ...errors(401, 403, 422, 503) },
      },
    },
    async (request) => {
      const q = request.query;
      return audit.listOwn(signedIn(request).user.id, {
        limit: q.limit,
        after: q.after,
        event: q.event as AuditEventName | undefined,
        from: q.from,
        to: q.to,
      });
    },
  );
};
