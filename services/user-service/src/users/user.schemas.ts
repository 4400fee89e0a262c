import { type Static, Type } from '@sinclair/typebox';
import { Nullable, Pagination, refTo, Timestamp, TimestampFilter, Uuid } from '../http/common.schemas.js';
import { PersonaCreate } from '../personas/persona.schemas.js';
import {
  EMAIL_MAX_LENGTH,
  FULL_NAME_MAX_LENGTH,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  USERNAME_MAX_LENGTH,
  USERNAME_MIN_LENGTH,
  USERNAME_PATTERN,
} from './user.fields.js';

const Email = Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH, examples: ['ada@example.com'] });
// Passwords are never truncated: a longer one is refused, not cut.
const Password = Type.String({
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
  examples: ['correct horse battery'],
  writeOnly: true,
});
const Username = Type.String({
  minLength: USERNAME_MIN_LENGTH,
  maxLength: USERNAME_MAX_LENGTH,
  pattern: USERNAME_PATTERN,
  description: 'Letters, digits, ".", "_" and "-"; unique without regard to case (stored lower-case)',
  examples: ['ada.lovelace'],
});
const FullName = Type.String({ maxLength: FULL_NAME_MAX_LENGTH, examples: ['Ada Lovelace'] });

// Bodies are open objects: the body validator drops every field a schema does not list (id, is_superuser,
// hashed_password, timestamps...), so they are ignored, never applied, as FastAPI's models ignore them. The
// document says so rather than `additionalProperties: false`, which would promise a 422 (see http/validators.ts).
export const UserCreate = Type.Object(
  {
    email: Email,
    password: Password,
    full_name: Type.Optional(Nullable(FullName)),
    username: Type.Optional(Nullable(Username)),
    personas: Type.Optional(
      Type.Array(PersonaCreate, { maxItems: 50, description: 'Personas created together with the user, atomically' }),
    ),
  },
  { description: 'Fields not listed here are ignored (never stored), as FastAPI ignores them.' },
);
export type UserCreate = Static<typeof UserCreate>;

export const UserUpdate = Type.Object(
  {
    email: Type.Optional(Email),
    password: Type.Optional(Password),
    full_name: Type.Optional(Nullable(FullName)),
    username: Type.Optional(Nullable(Username)),
  },
  { description: 'Fields not listed here are ignored (never stored), as FastAPI ignores them.' },
);
export type UserUpdate = Static<typeof UserUpdate>;

/** What a superuser may change on any user: the fields above, and the account's state and role. */
export const UserAdminUpdate = Type.Object(
  {
    ...UserUpdate.properties,
    is_active: Type.Optional(Type.Boolean({ description: 'false ends every session of the user' })),
    is_superuser: Type.Optional(
      Type.Boolean({ description: 'Grants or revokes the superuser role (superusers only; 409 for the last one)' }),
    ),
    is_verified: Type.Optional(
      Type.Boolean({ description: 'Marks the email verified (now) or not (superusers only, not API keys)' }),
    ),
  },
  { description: 'Fields not listed here are ignored (never stored), as FastAPI ignores them.' },
);
export type UserAdminUpdate = Static<typeof UserAdminUpdate>;

/** What a user may change on their own account (the password has its own endpoint, /auth/password). */
export const OwnUpdate = Type.Object(
  {
    email: Type.Optional(Email),
    full_name: Type.Optional(Nullable(FullName)),
    username: Type.Optional(Nullable(Username)),
  },
  { description: 'Fields not listed here are ignored: the password changes at /auth/password.' },
);

export const AccountDeletion = Type.Object(
  { password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH, writeOnly: true }) },
  { description: 'The current password, to confirm.' },
);

export const UserPublic = Type.Object(
  {
    id: Uuid,
    email: Email,
    username: Nullable(Type.String()),
    full_name: Nullable(Type.String()),
    is_active: Type.Boolean(),
    is_superuser: Type.Boolean(),
    is_verified: Type.Boolean({ description: 'Whether the user confirmed their email address (POST /auth/verify)' }),
    verified_at: Nullable(Timestamp),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'UserPublic' },
);
export type UserPublic = Static<typeof UserPublic>;

export const UserListPublic = Type.Object(
  {
    users: Type.Array(refTo(UserPublic)),
    total: Type.Integer({ description: 'Users matching the filters' }),
    skip: Type.Integer(),
    limit: Type.Integer(),
    next_cursor: Nullable(Type.String({ description: 'Pass as `after` for the next page' })),
    total_capped: Type.Optional(
      Type.Boolean({
        description:
          'Set by a search (/users/search, or /users with q): true when `total` stopped at its limit (100), so there are at least that many matches',
      }),
    ),
  },
  { $id: 'UserListPublic' },
);

export const SORTABLE = ['id', 'created_at', 'updated_at', 'email', 'username', 'full_name'] as const;

/** The substring of a search: /users/search's `q`, and the same `q` on the list. */
const SearchTerm = Type.String({
  minLength: 1,
  maxLength: 255,
  description: 'Matched anywhere in full name, username or email, any case; % and _ match literally',
});

export const UserListQuery = Type.Object(
  {
    ...Pagination,
    q: Type.Optional({
      ...SearchTerm,
      description:
        'Only users whose full name, username or email contains q, any case (as /users/search); `total` then counts up to 100 and `total_capped` says whether it stopped there. Only spaces: ignored, as if absent',
    }),
    active_only: Type.Boolean({ default: false, description: 'Only active users (the same as is_active=true)' }),
    is_active: Type.Optional(
      Type.Boolean({ description: 'Only active (true) or inactive (false) users; false with active_only=true is 422' }),
    ),
    is_superuser: Type.Optional(Type.Boolean()),
    is_verified: Type.Optional(
      Type.Boolean({ description: 'Only users whose email is verified (true) or not (false)' }),
    ),
    created_after: Type.Optional(TimestampFilter),
    created_before: Type.Optional(TimestampFilter),
    // No schema default: a sort the client sent must match the one its cursor was issued for (422 otherwise),
    // while `after` alone continues in the cursor's own order; without either the order is by id.
    sort: Type.Optional(
      Type.String({
        pattern: `^-?(${SORTABLE.join('|')})(:(asc|desc))?$`,
        description: `One of ${SORTABLE.join(', ')}; prefix "-" or suffix ":desc" for descending. Default: id, or with \`after\` the cursor's own order (a different sort with a cursor is a 422)`,
        examples: ['-created_at'],
      }),
    ),
  },
  { additionalProperties: false },
);
export type UserListQuery = Static<typeof UserListQuery>;

export const UserSearchQuery = Type.Object(
  {
    q: SearchTerm,
    skip: Pagination.skip,
    limit: Pagination.limit,
  },
  { additionalProperties: false },
);

export const CountQuery = Type.Object(
  { active_only: Type.Boolean({ default: false }) },
  { additionalProperties: false },
);
export const UserIdParams = Type.Object({ id: Uuid });
export const EmailParams = Type.Object({ email: Type.String({ minLength: 3, maxLength: EMAIL_MAX_LENGTH }) });
export const UsernameParams = Type.Object({ username: Type.String({ minLength: 1, maxLength: USERNAME_MAX_LENGTH }) });
