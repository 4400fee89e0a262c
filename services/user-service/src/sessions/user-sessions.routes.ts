import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { auditContext } from '../audit/audit-context.js';
import { SessionListPublic, SessionParams } from '../auth/auth.schemas.js';
import { errors } from '../http/common.schemas.js';
import { UserIdParams } from '../users/user.schemas.js';
import type { UserService } from '../users/user.service.js';
import type { SessionService } from './session.service.js';
import { sessionPublic } from './session-public.js';

export interface UserSessionsRouteOptions {
  users: UserService;
  sessions: SessionService;
}

/** A user's id and the id of one of their sessions. */
const UserSessionParams = Type.Object({ ...UserIdParams.properties, ...SessionParams.properties });

/**
 * A user's sessions as a superuser sees them (the access policy admits superusers only): list them, end one (a
 * lost laptop), or end them all, e.g. for an account that may be compromised. The same SessionService as the
 * user's own /auth/sessions.
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

  app.delete(
    '/users/:id/sessions/:session_id',
    {
      schema: {
        tags: ['users'],
        summary: 'End one session of a user (superusers)',
        description:
          "Its access token is refused from the next request on, and its refresh token with it; the user's other sessions stay. 404 when the session is not this user's, or already ended.",
        params: UserSessionParams,
        response: { 204: Type.Null({ description: 'Ended' }), ...errors(401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      const user = await users.get(request.params.id);
      // revoke() checks the session is this user's: a session id of anyone else is a 404, and stays live.
      await sessions.revoke(user.id, request.params.session_id, 'revoked', auditContext(request));
      return reply.code(204).send(null);
    },
  );
};
