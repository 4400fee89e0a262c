import jwt from '@fastify/jwt';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors, refTo } from '../http/common.schemas.js';
import { UserPublic } from '../users/user.schemas.js';
import { LoginBody, PasswordChange, TokenPublic } from './auth.schemas.js';
import type { AuthService } from './auth.service.js';
import { currentUser } from './current-user.js';

export interface AuthRouteOptions {
  auth: AuthService;
  secret: string;
  tokenMinutes: number;
}

const tags = ['auth'];

/** Login (JSON or OAuth2 password form), the current user, and password change. */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (app, { auth, secret, tokenMinutes }) => {
  await app.register(jwt, {
    secret,
    sign: { algorithm: 'HS256', expiresIn: `${tokenMinutes}m` },
    // A token without an expiry (or issue time, or subject) is refused, however well signed; so is any other
    // algorithm than the one we sign with.
    verify: { algorithms: ['HS256'], requiredClaims: ['exp', 'iat', 'sub'] },
  });
  const requireUser = currentUser(auth);

  // Login in a context of its own: only it takes the OAuth2 password form (Swagger UI's "Authorize" posts one);
  // every other route stays JSON only.
  await app.register(async (context) => {
    const login = context.withTypeProvider<TypeBoxTypeProvider>();
    login.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    login.post(
      '/auth/login',
      {
        schema: {
          tags,
          summary: 'Log in and get a bearer token',
          consumes: ['application/json', 'application/x-www-form-urlencoded'],
          body: LoginBody,
          response: { 200: TokenPublic, ...errors(400, 401, 403, 422, 503) },
        },
      },
      async (request, reply) => {
        const { user, stamp } = await auth.authenticate(request.body.username, request.body.password);
        const token = await reply.jwtSign({ sub: user.id, pwd: stamp });
        // A token must not be kept by any cache (RFC 6749, 5.1).
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        return { access_token: token, token_type: 'bearer' as const, expires_in: tokenMinutes * 60 };
      },
    );
  });

  app.get(
    '/auth/me',
    {
      schema: {
        tags,
        summary: 'The user the bearer token belongs to',
        security: [{ bearerAuth: [] }],
        response: { 200: refTo(UserPublic), ...errors(401, 422, 503) },
      },
    },
    async (request, reply) => requireUser(request, reply),
  );

  app.post(
    '/auth/password',
    {
      schema: {
        tags,
        summary: "Change the current user's password",
        security: [{ bearerAuth: [] }],
        body: PasswordChange,
        response: { 204: Type.Null({ description: 'Changed' }), ...errors(400, 401, 422, 503) },
      },
    },
    async (request, reply) => {
      const user = await requireUser(request, reply);
      await auth.changePassword(user.id, request.body.current_password, request.body.new_password);
      return reply.code(204).send(null);
    },
  );
};
