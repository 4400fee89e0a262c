import { type Static, type TSchema, type TUnsafe, Type } from '@sinclair/typebox';

/** FastAPI's error body: `{"detail": "..."}`. */
export const HttpError = Type.Object(
  { detail: Type.String({ examples: ['User not found'] }) },
  { $id: 'HTTPError', description: 'An error with a human-readable message' },
);

/** FastAPI's validation error body: `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`. */
export const ValidationErrorBody = Type.Object(
  {
    detail: Type.Array(
      Type.Object({
        loc: Type.Array(Type.Union([Type.String(), Type.Integer()]), { examples: [['body', 'email']] }),
        msg: Type.String({ examples: ['value is not a valid email address'] }),
        type: Type.String({ examples: ['value_error'] }),
      }),
    ),
  },
  { $id: 'HTTPValidationError', description: 'The request did not match the schema' },
);

/** A typed reference to a schema registered with `app.addSchema` (it becomes an OpenAPI component). */
export function refTo<T extends TSchema>(schema: T) {
  if (!schema.$id) throw new Error('refTo needs a schema with an $id');
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id));
}

const ref = <T extends TSchema>(schema: T, description: string) =>
  Type.Unsafe<Static<T>>({ ...refTo(schema), description });

export type ErrorCode = 400 | 401 | 403 | 404 | 409 | 413 | 414 | 415 | 422 | 429 | 503;
type ErrorSchemas<C extends ErrorCode> = {
  [K in C]: K extends 422 ? TUnsafe<Static<typeof ValidationErrorBody>> : TUnsafe<Static<typeof HttpError>>;
};

const ERROR_TEXT: Record<ErrorCode, string> = {
  400: 'Malformed request (for example invalid JSON)',
  401: 'Not authenticated',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflicts with an existing resource',
  413: 'Request body too large',
  414: 'A path segment is too long',
  415: 'Unsupported media type: the body must be application/json',
  422: 'Validation error',
  429: 'Too many requests or failed logins; retry after the Retry-After delay',
  503: 'Database unavailable or server overloaded; retry after the Retry-After delay',
};

/** Error responses for a route's OpenAPI entry (and its reply types), by status code. */
export function errors<C extends ErrorCode>(...codes: C[]): ErrorSchemas<C> {
  const out: Record<number, unknown> = {};
  for (const code of codes) out[code] = ref(code === 422 ? ValidationErrorBody : HttpError, ERROR_TEXT[code]);
  return out as ErrorSchemas<C>;
}

/**
 * A nullable value as OpenAPI 3.0 spells it (`nullable: true`). A union with null would let Ajv's type
 * coercion turn an explicit null into "" through the string branch.
 */
export function Nullable<T extends TSchema>(schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });
}

export const Uuid = Type.String({ format: 'uuid', examples: ['01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a'] });
export const Timestamp = Type.String({ format: 'date-time', examples: ['2026-11-22T10:20:30.123Z'] });
/**
 * A timestamp a client sends as a filter: RFC 3339, in the years every database stores (PostgreSQL has no year
 * 0000) and without a leap second (no database stores :60). Refused with 422 instead of a database's 400.
 */
export const TimestampFilter = Type.String({
  format: 'date-time',
  pattern: '^(?!0000)\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:(?!60)',
  examples: ['2026-11-22T10:20:30.123Z'],
});

export const Pagination = {
  // Bounded so every database can take it as an OFFSET (a larger one was a 500); keyset paging has no limit.
  skip: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0, description: 'Rows to skip (offset paging)' }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Page size, 1 to 100' }),
  after: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 512,
      description: "Cursor from a previous page's next_cursor (keyset paging)",
    }),
  ),
};
