import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from '@sinclair/typebox';
import type { Principal } from '../access/principal.js';
import { auditContext } from '../audit/audit-context.js';
import { errors, refTo } from '../http/common.schemas.js';
import {
  API_KEY_SCHEMAS,
  ApiKeyCreate,
  ApiKeyCreated,
  ApiKeyIdParams,
  ApiKeyListPublic,
  ApiKeyPublic,
} from './api-key.schemas.js';
import type { ApiKeyService } from './api-key.service.js';

const tags = ['api-keys'];
const apiKey = refTo(ApiKeyPublic);
const withSecret = Type.Unsafe<Static<typeof ApiKeyCreated>>({
  ...refTo(ApiKeyCreated),
  description: 'The new key, with its secret: shown only in this answer',
});

/** The user behind a request, for created_by: none for an API key (or when no access layer set a principal). */
function creatorOf(principal: Principal | undefined): string | null {
  return principal?.kind === 'user' ? principal.user.id : null;
}

/**
 * Maps HTTP to ApiKeyService; no rules live here. Who may call these is the access policy's business (superusers
 * only), not this plugin's.
 */
export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ apiKeys: ApiKeyService }> = async (app, { apiKeys }) => {
  // Registered here (unless the app already has them) so the plugin brings its own OpenAPI components.
  for (const schema of API_KEY_SCHEMAS) if (schema.$id && !app.getSchema(schema.$id)) app.addSchema(schema);

  app.post(
    '/api-keys',
    {
      schema: {
        tags,
        summary: 'Create an API key',
        description:
          'Creates a key for a service that calls without a user, with the scopes it may use. The answer carries the secret (`usk_...`): it is shown this once and stored only as a hash.',
        body: ApiKeyCreate,
        response: { 201: withSecret, ...errors(400, 401, 403, 409, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      const created = await apiKeys.create(request.body, creatorOf(request.principal), auditContext(request));
      return reply.code(201).header('location', `/api/v1/api-keys/${created.id}`).send(created);
    },
  );

  app.get(
    '/api-keys',
    {
      schema: {
        tags,
        summary: 'List API keys',
        description: 'Every key, newest first, revoked ones included. Secrets are never shown.',
        response: { 200: refTo(ApiKeyListPublic), ...errors(401, 403, 503) },
      },
    },
    async () => ({ api_keys: await apiKeys.list() }),
  );

  app.get(
    '/api-keys/:id',
    {
      schema: {
        tags,
        summary: 'Get an API key',
        description: 'The key without its secret.',
        params: ApiKeyIdParams,
        response: { 200: apiKey, ...errors(401, 403, 404, 422, 503) },
      },
    },
    async (request) => apiKeys.get(request.params.id),
  );

  app.delete(
    '/api-keys/:id',
    {
      schema: {
        tags,
        summary: 'Revoke an API key',
        description:
          'Revokes the key: the next request carrying it is refused (401). The key stays listed with revoked_at set; revoking it again changes nothing.',
        params: ApiKeyIdParams,
        response: { 204: Type.Null({ description: 'Revoked' }), ...errors(401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      await apiKeys.revoke(request.params.id, auditContext(request));
      return reply.code(204).send(null);
    },
  );
};
