import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AccessTokens } from './access-tokens.js';

/** How long clients and caches may keep the key set; a new key is also fetched on an unknown kid. */
const MAX_AGE_SECONDS = 300;

export interface JwksDeps {
  tokens: AccessTokens;
}

const Jwk = Type.Object(
  {
    kty: Type.String(),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    kid: Type.Optional(Type.String()),
    alg: Type.Optional(Type.String()),
    use: Type.Optional(Type.String()),
  },
  { description: 'A public key (RFC 7517): for EdDSA, kty OKP, crv Ed25519' },
);

/** GET /.well-known/jwks.json: the public keys that verify access tokens, for other services (RFC 7517). */
export const jwksRoutes: FastifyPluginAsyncTypebox<JwksDeps> = async (app, { tokens }) => {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['auth'],
        summary: 'Public keys that verify access tokens (JWK Set)',
        description:
          "The Ed25519 keys (with `kid`) that verify this service's access tokens, including retired keys until the " +
          'tokens they signed have expired. Empty with JWT_ALGORITHM=HS256 (tokens are verified with the shared ' +
          `JWT_SECRET). Anonymous; cacheable for ${MAX_AGE_SECONDS} s.`,
        security: [],
        response: { 200: Type.Object({ keys: Type.Array(Jwk) }) },
      },
    },
    async (_request, reply) => {
      const jwks = await tokens.jwks();
      reply.header('cache-control', `public, max-age=${MAX_AGE_SECONDS}`);
      return { keys: jwks.keys.map(({ kty, crv, x, kid, alg, use }) => ({ kty: kty!, crv, x, kid, alg, use })) };
    },
  );
};
