import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { auditContext } from '../audit/audit-context.js';
import { SessionListPublic } from '../auth/auth.schemas.js';
import { errors } from '../http/common.schemas.js';
import { UserIdParams } from '../users/user.schemas.js';
import type { UserService } from '../users/user.service.js';
import type { SessionService } from './session.service.js';
import { sessionPublic } from './session-public.js';

export interface UserSessionsRouteOptions {
  users: UserService;
  sessions: SessionService;
}

/**
 * A user's sessions as a superuser sees them (the access policy admits superusers only): list them, or end them
 * all, e.g. for an account that may be compromised. The same SessionService as the user's own /auth/sessions.
 */
export const userSessionsRoutes: FastifyPluginAsyncTypebox<UserSessionsRouteOptions> = async (
  app,
  { users, sessions },
) => {
  app.get(
    '/users/:id/sessions',
    {
      schema: {
        tags: ['users'],
        summary: "A user's live sessions, newest first (superusers)",
        params: UserIdParams,
        response: { 200: SessionListPublic, ...errors(401, 403, 404, 422, 503) },
      },
    },
    async (request) => {
      const user = await users.get(request.params.id);
      const current = request.principal.kind === 'user' ? request.principal.sessionId : undefined;
      return { sessions: (await sessions.list(user.id)).map((s) => sessionPublic(s, current)) };
    },
  );

  app.delete(
    '/users/:id/sessions',
    {
      schema: {
        tags: ['users'],
        summary: 'End every session of a user (superusers)',
        description: 'Their access tokens are refused from the next request on, and their refresh tokens with them.',
        params: UserIdParams,
        response: { 204: Type.Null({ description: 'Ended' }), ...errors(401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      const user = await users.get(request.params.id);
      await sessions.revokeAll(user.id, 'revoked', undefined, auditContext(request));
      return reply.code(204).send(null);
    },
  );
};
