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
  access_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the token expires' }),
});

export const PasswordChange = Type.Object(
  {
    current_password: Type.String({ minLength: 1, maxLength: 128 }),
    new_password: Type.String({ minLength: 8, maxLength: 128 }),
  },
  { description: 'Fields not listed here are ignored (never stored), as FastAPI ignores them.' },
);
