import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../access/principal.js';
import { auditContext } from '../audit/audit-context.js';
import { UnauthorizedError } from '../errors.js';
import { errors, refTo } from '../http/common.schemas.js';
import type { SessionService } from '../sessions/session.service.js';
import { sessionPublic } from '../sessions/session-public.js';
import { UserCreate, UserPublic } from '../users/user.schemas.js';
import type { User, UserService } from '../users/user.service.js';
import {
  LoginBody,
  LogoutQuery,
  PasswordChange,
  RefreshBody,
  SessionListPublic,
  SessionParams,
  TokenPublic,
} from './auth.schemas.js';
import type { AuthService } from './auth.service.js';

/** Signs access tokens (auth/access-tokens.ts); kept structural so the routes do not care which algorithm. */
export interface TokenSigner {
  sign(sub: string, sid: string): Promise<{ token: string; expiresIn: number }>;
}

export interface AuthRouteOptions {
  auth: AuthService;
  users: UserService;
  sessions: SessionService;
  tokens: TokenSigner;
}

const tags = ['auth'];
const bearer = [{ bearerAuth: [] }];

/** The signed-in user; the access policy has already refused everyone else on these routes. */
export function signedIn(request: FastifyRequest): Extract<Principal, { kind: 'user' }> {
  const principal = request.principal;
  if (principal.kind !== 'user') throw new UnauthorizedError('Not authenticated');
  return principal;
}

/**
 * Registration, login (JSON or OAuth2 password form, email or username), refresh, logout, sessions, who am I,
 * password change. Who may call each is decided by access/policy.ts.
 */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (app, options) => {
  const { auth, users, sessions, tokens } = options;

  /** A token pair for a session; never cached by anyone (RFC 6749, 5.1). */
  async function tokenPair(reply: FastifyReply, userId: string, sessionId: string, refreshToken: string) {
    const access = await tokens.sign(userId, sessionId);
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return {
      access_token: access.token,
      token_type: 'bearer' as const,
      expires_in: access.expiresIn,
      refresh_token: refreshToken,
    };
  }

  app.post(
    '/auth/register',
    {
      schema: {
        tags,
        summary: 'Sign up',
        description:
          'Creates an ordinary, active user (is_superuser and is_active in the body are ignored). 403 when REGISTRATION=closed.',
        body: UserCreate,
        response: { 201: refTo(UserPublic), ...errors(400, 403, 409, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      const created = await users.create(
        { ...request.body, is_superuser: false },
        { context: auditContext(request), registered: true },
      );
      return reply.code(201).header('location', `/api/v1/users/${created.id}`).send(created);
    },
  );

  // Login and refresh in a context of their own: only they take OAuth2's form bodies (Swagger UI's "Authorize"
  // posts the password form; an OAuth2 client refreshes with grant_type=refresh_token); every other route stays
  // JSON only.
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
          summary: 'Log in: a new session, with an access token and a refresh token',
          consumes: ['application/json', 'application/x-www-form-urlencoded'],
          body: LoginBody,
          response: { 200: TokenPublic, ...errors(400, 401, 403, 422, 503) },
        },
      },
      async (request, reply) => {
        const context = auditContext(request);
        const { user } = await auth.authenticate(request.body.username, request.body.password, request.ip, context);
        const started = await sessions.start(user.id, clientOf(request), context);
        return tokenPair(reply, user.id, started.session.id, started.refreshToken);
      },
    );

    login.post(
      '/auth/refresh',
      {
        schema: {
          tags,
          summary: 'Exchange a refresh token for a new pair',
          description:
            'Each refresh token works once. Presenting one that was already exchanged ends the whole session (401), except within REFRESH_REUSE_GRACE_SECONDS, when the same new refresh token comes back (a client retrying).',
          consumes: ['application/json', 'application/x-www-form-urlencoded'],
          body: RefreshBody,
          response: { 200: TokenPublic, ...errors(400, 401, 422, 503) },
        },
      },
      async (request, reply) => {
        const { session, refreshToken } = await sessions.refresh(request.body.refresh_token, auditContext(request));
        const user = await users.find(session.user_id);
        if (!user?.is_active) throw new UnauthorizedError('Invalid or expired refresh token');
        return tokenPair(reply, user.id, session.id, refreshToken);
      },
    );
  });

  app.post(
    '/auth/logout',
    {
      schema: {
        tags,
        summary: 'End this session (or the others, or all)',
        security: bearer,
        querystring: LogoutQuery,
        response: { 204: Type.Null({ description: 'Ended' }), ...errors(401, 403, 422, 503) },
      },
    },
    async (request, reply) => {
      const { user, sessionId } = signedIn(request);
      const scope = request.query.scope;
      const context = auditContext(request);
      if (scope === 'current') await sessions.revoke(user.id, sessionId, 'logout', context);
      else if (scope === 'others') await sessions.revokeAll(user.id, 'logout_others', sessionId, context);
      else await sessions.revokeAll(user.id, 'logout_all', undefined, context);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/auth/sessions',
    {
      schema: {
        tags,
        summary: "The current user's live sessions, newest first",
        security: bearer,
        response: { 200: SessionListPublic, ...errors(401, 403, 503) },
      },
    },
    async (request) => {
      const { user, sessionId } = signedIn(request);
      return { sessions: (await sessions.list(user.id)).map((s) => sessionPublic(s, sessionId)) };
    },
  );

  app.delete(
    '/auth/sessions/:session_id',
    {
      schema: {
        tags,
        summary: 'End one of your sessions',
        security: bearer,
        params: SessionParams,
        response: { 204: Type.Null({ description: 'Ended' }), ...errors(401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      await sessions.revoke(signedIn(request).user.id, request.params.session_id, 'revoked', auditContext(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    {
      schema: {
        tags,
        summary: 'The user the bearer token belongs to (as GET /users/me)',
        security: bearer,
        response: { 200: refTo(UserPublic), ...errors(401, 403, 503) },
      },
    },
    async (request): Promise<User> => signedIn(request).user,
  );

  app.post(
    '/auth/password',
    {
      schema: {
        tags,
        summary: "Change the current user's password",
        description: "Ends the user's other sessions; this one stays.",
        security: bearer,
        body: PasswordChange,
        response: { 204: Type.Null({ description: 'Changed' }), ...errors(400, 401, 403, 422, 503) },
      },
    },
    async (request, reply) => {
      const { user, sessionId } = signedIn(request);
      await auth.changePassword(
        user.id,
        request.body.current_password,
        request.body.new_password,
        sessionId,
        auditContext(request),
      );
      return reply.code(204).send(null);
    },
  );
};

function clientOf(request: FastifyRequest) {
  const agent = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof agent === 'string' ? agent : null };
}
