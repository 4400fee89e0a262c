import { type Static, Type } from '@sinclair/typebox';
import { SCOPES, type Scope } from '../access/principal.js';
import { Nullable, refTo, Timestamp, TimestampFilter, Uuid } from '../http/common.schemas.js';
import { API_KEY_SECRET_LENGTH } from './api-key.service.js';
import { API_KEY_NAME_MAX_LENGTH } from './api-key.table.js';

// An enum rather than a union of literals: one clear error ("must be equal to one of the allowed values").
const ScopeName = Type.Unsafe<Scope>({
  type: 'string',
  enum: [...SCOPES],
  description: 'What the key may do',
  examples: ['users:read'],
});

// An open object like the other bodies: fields not listed are ignored (see user.schemas.ts).
export const ApiKeyCreate = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: API_KEY_NAME_MAX_LENGTH,
      description: 'What the key is for; surrounding spaces are trimmed',
      examples: ['billing-service'],
    }),
    scopes: Type.Array(ScopeName, { minItems: 1, uniqueItems: true, examples: [['users:read', 'personas:read']] }),
    expires_at: Type.Optional(
      Nullable({
        ...TimestampFilter,
        description: 'When the key stops working; in the future. Absent or null: never',
      }),
    ),
  },
  { description: 'Fields not listed here are ignored (never stored).' },
);
export type ApiKeyCreate = Static<typeof ApiKeyCreate>;

/** A key as lists and lookups show it: never the secret, never its hash. */
export const ApiKeyPublic = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    prefix: Type.String({
      description: 'The first characters of the secret, to recognise the key',
      examples: ['usk_AbCdEfGh'],
    }),
    scopes: Type.Array(ScopeName),
    created_by: Nullable({ ...Uuid, description: 'The user who created the key; null once that user is deleted' }),
    created_at: Timestamp,
    expires_at: Nullable({ ...Timestamp, description: 'Null: never expires' }),
    last_used_at: Nullable({ ...Timestamp, description: 'Recorded at most once a minute; null: never used' }),
    revoked_at: Nullable({ ...Timestamp, description: 'Null: not revoked' }),
  },
  { $id: 'ApiKeyPublic' },
);
export type ApiKeyPublic = Static<typeof ApiKeyPublic>;

/** The creation's answer: the key and, this once, its secret. */
export const ApiKeyCreated = Type.Object(
  {
    ...ApiKeyPublic.properties,
    secret: Type.String({
      minLength: API_KEY_SECRET_LENGTH,
      maxLength: API_KEY_SECRET_LENGTH,
      description:
        'Send as `Authorization: Bearer <secret>` or `X-API-Key: <secret>`. Shown only in this answer: store it now; it cannot be retrieved later.',
      examples: ['usk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE'],
    }),
  },
  { $id: 'ApiKeyCreated' },
);

export const ApiKeyListPublic = Type.Object(
  { api_keys: Type.Array(refTo(ApiKeyPublic), { description: 'Newest first; revoked keys included' }) },
  { $id: 'ApiKeyListPublic' },
);

export const ApiKeyIdParams = Type.Object({ id: Uuid });

/** The schemas the routes refer to by $id (OpenAPI components). */
export const API_KEY_SCHEMAS = [ApiKeyPublic, ApiKeyCreated, ApiKeyListPublic] as const;
