import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { auditContext } from '../audit/audit-context.js';
import { signedIn } from '../auth/auth.routes.js';
import type { AuthService } from '../auth/auth.service.js';
import { errors, refTo } from '../http/common.schemas.js';
import {
  PersonaCreate,
  PersonaListPublic,
  PersonaListQuery,
  PersonaPublic,
  PersonaUpdate,
} from '../personas/persona.schemas.js';
import type { PersonaService } from '../personas/persona.service.js';
import { AccountDeletion, OwnUpdate, UserPublic } from './user.schemas.js';
import type { UserService } from './user.service.js';

export interface MeRouteOptions {
  users: UserService;
  personas: PersonaService;
  auth: AuthService;
}

const security = [{ bearerAuth: [] }];
const PersonaIdParams = Type.Object({ persona_id: Type.String({ format: 'uuid' }) });

/**
 * /users/me: the signed-in user's own account and personas (the predecessors' current-user dependency). The
 * same services as the administrative routes, with the user id taken from the session instead of the path.
 */
export const meRoutes: FastifyPluginAsyncTypebox<MeRouteOptions> = async (app, { users, personas, auth }) => {
  const user = refTo(UserPublic);
  const persona = refTo(PersonaPublic);

  app.get(
    '/users/me',
    {
      schema: {
        tags: ['users'],
        summary: 'Your own account',
        security,
        response: { 200: user, ...errors(401, 403, 503) },
      },
    },
    async (request) => users.get(signedIn(request).user.id),
  );

  app.patch(
    '/users/me',
    {
      schema: {
        tags: ['users'],
        summary: 'Change your email, username or full name',
        security,
        body: OwnUpdate,
        response: { 200: user, ...errors(400, 401, 403, 409, 413, 422, 503) },
      },
    },
    async (request) => {
      const { email, username, full_name } = request.body;
      return users.update(
        signedIn(request).user.id,
        {
          ...(email !== undefined ? { email } : {}),
          ...(username !== undefined ? { username } : {}),
          ...(full_name !== undefined ? { full_name } : {}),
        },
        { context: auditContext(request) },
      );
    },
  );

  app.delete(
    '/users/me',
    {
      schema: {
        tags: ['users'],
        summary: 'Delete your own account (confirm with your password)',
        description: 'Deletes the account, its personas and its sessions. 409 for the last active superuser.',
        security,
        body: AccountDeletion,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errors(400, 401, 403, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const id = signedIn(request).user.id;
      await auth.confirmPassword(id, request.body.password);
      await users.delete(id, auditContext(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/users/me/personas',
    {
      schema: {
        tags: ['personas'],
        summary: 'Your personas',
        security,
        querystring: PersonaListQuery,
        response: { 200: refTo(PersonaListPublic), ...errors(401, 403, 422, 503) },
      },
    },
    async (request) => {
      const { skip, limit, after } = request.query;
      return personas.list(signedIn(request).user.id, skip, limit, after);
    },
  );

  app.post(
    '/users/me/personas',
    {
      schema: {
        tags: ['personas'],
        summary: 'Create one of your personas',
        security,
        body: PersonaCreate,
        response: { 201: persona, ...errors(400, 401, 403, 409, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      const created = await personas.create(signedIn(request).user.id, request.body);
      return reply.code(201).header('location', `/api/v1/users/me/personas/${created.id}`).send(created);
    },
  );

  app.get(
    '/users/me/personas/:persona_id',
    {
      schema: {
        tags: ['personas'],
        summary: 'One of your personas',
        security,
        params: PersonaIdParams,
        response: { 200: persona, ...errors(401, 403, 404, 422, 503) },
      },
    },
    async (request) => personas.get(signedIn(request).user.id, request.params.persona_id),
  );

  for (const method of ['put', 'patch'] as const) {
    app[method](
      '/users/me/personas/:persona_id',
      {
        schema: {
          tags: ['personas'],
          summary: method === 'put' ? 'Update one of your personas' : 'Update one of your personas (partial)',
          security,
          params: PersonaIdParams,
          body: PersonaUpdate,
          response: { 200: persona, ...errors(400, 401, 403, 404, 409, 413, 422, 503) },
        },
      },
      async (request) => personas.update(signedIn(request).user.id, request.params.persona_id, request.body),
    );
  }

  app.delete(
    '/users/me/personas/:persona_id',
    {
      schema: {
        tags: ['personas'],
        summary: 'Delete one of your personas',
        security,
        params: PersonaIdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errors(401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      await personas.delete(signedIn(request).user.id, request.params.persona_id, auditContext(request));
      return reply.code(204).send(null);
    },
  );
};
