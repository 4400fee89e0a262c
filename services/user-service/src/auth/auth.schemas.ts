import { Type } from '@sinclair/typebox';

export const LoginBody = Type.Object(
  {
    username: Type.String({
      minLength: 1,
      maxLength: 320,
      description: 'Email address or username',
      examples: ['ada@example.com'],
    }),
    password: Type.String({ minLength: 1, maxLength: 128, examples: ['correct horse battery'] }),
  },
  { description: 'JSON or an OAuth2 password form (application/x-www-form-urlencoded), as FastAPI accepts' },
);

export const TokenPublic = Type.Object({
  access_token: Type.String({ description: 'A JWT for `Authorization: Bearer ...`; short-lived' }),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
  refresh_token: Type.String({
    description: 'Opaque; exchange it once at /auth/refresh for a new pair. Keep it secret: it is shown once.',
  }),
});

export const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 256 }) },
  { description: 'Fields not listed here are ignored.' },
);

export const LogoutQuery = Type.Object({
  scope: Type.Union([Type.Literal('current'), Type.Literal('others'), Type.Literal('all')], {
    default: 'current',
    description: 'current: this session; others: every other session of the user; all: every session',
  }),
});

export const SessionPublic = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    created_at: Type.String({ format: 'date-time' }),
    last_used_at: Type.String({ format: 'date-time', description: 'The last login or refresh' }),
    expires_at: Type.String({ format: 'date-time', description: 'The absolute end (SESSION_MAX_DAYS)' }),
    ip: Type.Union([Type.String(), Type.Null()]),
    user_agent: Type.Union([Type.String(), Type.Null()]),
    current: Type.Boolean({ description: 'The session of the token that asked' }),
  },
  { $id: 'SessionPublic' },
);

export const SessionListPublic = Type.Object({ sessions: Type.Array(SessionPublic) });

export const SessionParams = Type.Object({ session_id: Type.String({ format: 'uuid' }) });

export const PasswordChange = Type.Object(
  {
    current_password: Type.String({ minLength: 1, maxLength: 128 }),
    new_password: Type.String({ minLength: 8, maxLength: 128 }),
  },
  { description: 'Fields not listed here are ignored (never stored), as FastAPI ignores them.' },
);
