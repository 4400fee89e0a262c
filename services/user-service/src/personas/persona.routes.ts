import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { auditContext } from '../audit/audit-context.js';
import { errors, refTo } from '../http/common.schemas.js';
import {
  PersonaCreate,
  PersonaListPublic,
  PersonaListQuery,
  PersonaParams,
  PersonaPublic,
  PersonaUpdate,
  UserPersonaParams,
} from './persona.schemas.js';
import type { PersonaService } from './persona.service.js';

const tags = ['personas'];
const persona = refTo(PersonaPublic);

/** Maps HTTP to PersonaService under /users/{user_id}/personas. */
export const personaRoutes: FastifyPluginAsyncTypebox<{ personas: PersonaService }> = async (app, { personas }) => {
  app.post(
    '/users/:user_id/personas',
    {
      schema: {
        tags,
        summary: 'Create a persona for a user',
        params: UserPersonaParams,
        body: PersonaCreate,
        response: { 201: persona, ...errors(400, 404, 409, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      const created = await personas.create(request.params.user_id, request.body);
      return reply
        .code(201)
        .header('location', `/api/v1/users/${created.user_id}/personas/${created.id}`)
        .send(created);
    },
  );

  app.get(
    '/users/:user_id/personas',
    {
      schema: {
        tags,
        summary: "List a user's personas",
        params: UserPersonaParams,
        querystring: PersonaListQuery,
        response: { 200: refTo(PersonaListPublic), ...errors(404, 422, 503) },
      },
    },
    async (request) => {
      const { skip, limit, after } = request.query;
      return personas.list(request.params.user_id, skip, limit, after);
    },
  );

  app.get(
    '/users/:user_id/personas/:persona_id',
    {
      schema: {
        tags,
        summary: 'Get a persona',
        params: PersonaParams,
        response: { 200: persona, ...errors(404, 422, 503) },
      },
    },
    async (request) => personas.get(request.params.user_id, request.params.persona_id),
  );

  for (const method of ['put', 'patch'] as const) {
    app[method](
      '/users/:user_id/personas/:persona_id',
      {
        schema: {
          tags,
          summary: method === 'put' ? 'Update a persona' : 'Update a persona (partial)',
          params: PersonaParams,
          body: PersonaUpdate,
          response: { 200: persona, ...errors(400, 404, 409, 413, 422, 503) },
        },
      },
      async (request) => personas.update(request.params.user_id, request.params.persona_id, request.body),
    );
  }

  app.delete(
    '/users/:user_id/personas/:persona_id',
    {
      schema: {
        tags,
        summary: 'Delete a persona',
        params: PersonaParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errors(404, 422, 503) },
      },
    },
    async (request, reply) => {
      await personas.delete(request.params.user_id, request.params.persona_id, auditContext(request));
      return reply.code(204).send(null);
    },
  );
};
