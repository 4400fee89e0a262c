import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Principal } from '../access/principal.js';
import { auditContext } from '../audit/audit-context.js';
import { ForbiddenError } from '../errors.js';
import { errors, refTo } from '../http/common.schemas.js';
import {
  CountQuery,
  EmailParams,
  UserAdminUpdate,
  UserCreate,
  UserIdParams,
  UserListPublic,
  UserListQuery,
  UsernameParams,
  UserPublic,
  UserSearchQuery,
} from './user.schemas.js';
import type { User, UserService } from './user.service.js';

const tags = ['users'];
const user = refTo(UserPublic);

type Sort = { readonly column: keyof User & string; readonly direction: 'asc' | 'desc' };

/**
 * Parsed sorts by their text: the schema admits only the whitelisted fields in their few spellings, so this
 * holds a handful of entries, and a list request parses nothing.
 */
const sorts = new Map<string, Sort>();

/** "-created_at" or "created_at:desc" -> { column, direction }. The schema has already checked the field. */
function parseSort(sort: string): Sort {
  let parsed = sorts.get(sort);
  if (!parsed) {
    const [field = 'id', dir] = sort.replace(/^-/, '').split(':');
    const direction = sort.startsWith('-') || dir === 'desc' ? 'desc' : 'asc';
    parsed = Object.freeze({ column: field as keyof User & string, direction });
    sorts.set(sort, parsed);
  }
  return parsed;
}

const isSuperuser = (principal: Principal) => principal.kind === 'user' && principal.user.is_superuser;

/** Maps HTTP to UserService; the only rule here is who may change a superuser (it needs the target's role). */
export const userRoutes: FastifyPluginAsyncTypebox<{ users: UserService }> = async (app, { users }) => {
  /**
   * A superuser's account (password, email, state, existence) is changed only by a superuser: an API key with
   * users:write (or an anonymous caller with AUTH_REQUIRED=false) could otherwise set a superuser's password,
   * log in as them and hold every right.
   */
  async function mayManage(principal: Principal, id: string): Promise<void> {
    if (isSuperuser(principal)) return;
    if ((await users.find(id))?.is_superuser) {
      throw new ForbiddenError("Only a superuser can change or delete a superuser's account");
    }
  }

  app.post(
    '/users',
    {
      schema: {
        tags,
        summary: 'Create a user',
        description:
          'Creates a user, optionally with initial personas in the same transaction. Fields a caller may not set (id, is_superuser, is_active, hashed_password, timestamps) are ignored.',
        body: UserCreate,
        response: { 201: user, ...errors(400, 409, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      const created = await users.create(request.body, { context: auditContext(request) });
      return reply.code(201).header('location', `/api/v1/users/${created.id}`).send(created);
    },
  );

  app.get(
    '/users',
    {
      schema: {
        tags,
        summary: 'List users',
        description:
          'Offset paging with skip/limit, or keyset paging with after=<next_cursor>. `total` counts every user matching the filters; with `q` (a substring search, as /users/search), it counts up to 100 and `total_capped` says whether it stopped there. A cursor works only with the filters (q included) it was issued for.',
        querystring: UserListQuery,
        response: { 200: refTo(UserListPublic), ...errors(422, 503) },
      },
    },
    async (request) => {
      const query = request.query;
      return users.list({
        skip: query.skip,
        limit: query.limit,
        ...(query.after ? { after: query.after } : {}),
        ...(query.q !== undefined ? { q: query.q } : {}),
        activeOnly: query.active_only,
        ...(query.is_active !== undefined ? { isActive: query.is_active } : {}),
        ...(query.is_superuser !== undefined ? { isSuperuser: query.is_superuser } : {}),
        ...(query.is_verified !== undefined ? { isVerified: query.is_verified } : {}),
        ...(query.created_after ? { createdAfter: query.created_after } : {}),
        ...(query.created_before ? { createdBefore: query.created_before } : {}),
        ...(query.sort ? { sort: parseSort(query.sort) } : {}),
      });
    },
  );

  app.get(
    '/users/search',
    {
      schema: {
        tags,
        summary: 'Search users',
        description:
          'Users whose full name, username or email contains q, without regard to case. % and _ match literally.',
        querystring: UserSearchQuery,
        response: { 200: refTo(UserListPublic), ...errors(422, 503) },
      },
    },
    async (request) => users.search(request.query.q, request.query.skip, request.query.limit),
  );

  app.get(
    '/users/count',
    {
      schema: {
        tags,
        summary: 'Count users',
        querystring: CountQuery,
        response: { 200: Type.Object({ count: Type.Integer() }), ...errors(422, 503) },
      },
    },
    async (request) => ({ count: await users.count(request.query.active_only) }),
  );

  app.get(
    '/users/email/:email',
    {
      schema: {
        tags,
        summary: 'Get a user by email',
        params: EmailParams,
        response: { 200: user, ...errors(404, 422, 503) },
      },
    },
    async (request) => users.getByEmail(request.params.email),
  );

  app.get(
    '/users/by_username/:username',
    {
      schema: {
        tags,
        summary: 'Get a user by username',
        params: UsernameParams,
        response: { 200: user, ...errors(404, 422, 503) },
      },
    },
    async (request) => users.getByUsername(request.params.username),
  );

  app.get(
    '/users/:id',
    {
      schema: { tags, summary: 'Get a user', params: UserIdParams, response: { 200: user, ...errors(404, 422, 503) } },
    },
    async (request) => users.get(request.params.id),
  );

  app.head(
    '/users/:id',
    {
      schema: {
        tags,
        summary: 'Does this user exist?',
        description: '200 when the user exists, 404 when not; no body.',
        params: UserIdParams,
        response: {
          200: Type.Null({ description: 'The user exists' }),
          404: Type.Null({ description: 'No such user' }),
          ...errors(422, 503),
        },
      },
    },
    async (request, reply) => reply.code((await users.exists(request.params.id)) ? 200 : 404).send(null),
  );

  for (const method of ['put', 'patch'] as const) {
    app[method](
      '/users/:id',
      {
        schema: {
          tags,
          summary: method === 'put' ? 'Update a user' : 'Update a user (partial)',
          description:
            "Only the fields sent change. A new password is re-hashed and ends the user's sessions. is_active and is_superuser grant and revoke (is_superuser: superusers only, not API keys); the last active superuser cannot be demoted or deactivated (409). Other fields are ignored.",
          params: UserIdParams,
          body: UserAdminUpdate,
          response: { 200: user, ...errors(400, 401, 403, 404, 409, 413, 422, 503) },
        },
      },
      async (request) => {
        const principal = request.principal;
        if (request.body.is_superuser !== undefined && !isSuperuser(principal)) {
          throw new ForbiddenError('Only a superuser can grant or revoke the superuser role');
        }
        if (request.body.is_verified !== undefined && !isSuperuser(principal)) {
          throw new ForbiddenError('Only a superuser can mark an email verified or unverified');
        }
        await mayManage(request.principal, request.params.id);
        // The caller changing their own password keeps the session they are using.
        const keep =
          principal.kind === 'user' && principal.user.id === request.params.id ? principal.sessionId : undefined;
        return users.update(request.params.id, request.body, {
          context: auditContext(request),
          ...(keep ? { keepSession: keep } : {}),
        });
      },
    );
  }

  for (const [action, active] of [
    ['activate', true],
    ['deactivate', false],
  ] as const) {
    app.post(
      `/users/:id/${action}`,
      {
        schema: {
          tags,
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} a user`,
          params: UserIdParams,
          response: { 200: user, ...errors(404, 422, 503) },
        },
      },
      async (request) => {
        await mayManage(request.principal, request.params.id);
        return users.setActive(request.params.id, active, auditContext(request));
      },
    );
  }

  app.delete(
    '/users/:id',
    {
      schema: {
        tags,
        summary: 'Delete a user',
        description: 'Deletes the user and all of its personas.',
        params: UserIdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errors(404, 422, 503) },
      },
    },
    async (request, reply) => {
      await mayManage(request.principal, request.params.id);
      await users.delete(request.params.id, auditContext(request));
      return reply.code(204).send(null);
    },
  );
};
