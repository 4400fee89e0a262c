import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { auditContext } from '../audit/audit-context.js';
import { errors, refTo } from '../http/common.schemas.js';
import { UserPublic } from '../users/user.schemas.js';
import type { User } from '../users/user.service.js';
import { Accepted, EmailRequest, ResetPasswordBody, VerifyBody } from './account.schemas.js';
import { type AccountService, TOKENS_PER_HOUR } from './account.service.js';

/**
 * Requests per minute each client IP may send to each of the two mail-sending routes, in every process (on top
 * of AUTH_RATE_LIMIT_PER_MINUTE, which all /auth/ routes share). Kept low and fixed (not a setting; only the
 * tests' apps raise it): a person needs one or two; per address, AccountService sends at most TOKENS_PER_HOUR
 * mails of a kind an hour whoever asks.
 */
export const MAIL_REQUESTS_PER_MINUTE = 5;

const tags = ['auth'];
const SAME_ANSWER =
  'Always 202 with the same empty body, whether or not the address has an account, and about as fast: the work is done after the answer.';
const BAD_TOKEN_400 = 'A token that is malformed, unknown, already used, replaced by a newer one or expired is 400.';

/** Email verification and password reset (fastapi-users' paths); public, as the link in a mail is. */
export const accountRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountService; perMinute?: number }> = async (
  app,
  { accounts, perMinute = MAIL_REQUESTS_PER_MINUTE },
) => {
  const mailRateLimit = { rateLimit: { max: perMinute, timeWindow: 60_000 } };
  app.post(
    '/auth/request-verify-token',
    {
      config: mailRateLimit,
      schema: {
        tags,
        summary: 'Mail a link that verifies the address',
        description: `${SAME_ANSWER} No mail goes to an unknown, inactive or already verified account, nor past ${TOKENS_PER_HOUR} mails an hour to one address. ${perMinute} requests a minute per client IP.`,
        security: [],
        body: EmailRequest,
        response: { 202: Accepted, ...errors(400, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      accounts.requestVerifyToken(request.body.email, auditContext(request));
      return reply.code(202).send(null);
    },
  );

  app.post(
    '/auth/verify',
    {
      schema: {
        tags,
        summary: "Verify the user's email with the token from the mail",
        description: `Marks the address verified (is_verified, verified_at) and returns the user. The token works once, and only while the user's email is the address it was sent to. ${BAD_TOKEN_400}`,
        security: [],
        body: VerifyBody,
        response: { 200: refTo(UserPublic), ...errors(400, 413, 422, 503) },
      },
    },
    async (request): Promise<User> => accounts.verify(request.body.token, auditContext(request)),
  );

  app.post(
    '/auth/forgot-password',
    {
      config: mailRateLimit,
      schema: {
        tags,
        summary: 'Mail a link that sets a new password',
        description: `${SAME_ANSWER} No mail goes to an unknown or inactive account, nor past ${TOKENS_PER_HOUR} mails an hour to one address. ${perMinute} requests a minute per client IP.`,
        security: [],
        body: EmailRequest,
        response: { 202: Accepted, ...errors(400, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      accounts.forgotPassword(request.body.email, auditContext(request));
      return reply.code(202).send(null);
    },
  );

  app.post(
    '/auth/reset-password',
    {
      schema: {
        tags,
        summary: 'Set a new password with the token from the mail',
        description: `Sets the password (the same rules as everywhere: 422 on body.password) and ends every session of the user. The token works once; a later password change or email change voids it. ${BAD_TOKEN_400}`,
        security: [],
        body: ResetPasswordBody,
        response: { 204: Type.Null({ description: 'Password changed' }), ...errors(400, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      await accounts.resetPassword(request.body.token, request.body.password, auditContext(request));
      return reply.code(204).send(null);
    },
  );
};
