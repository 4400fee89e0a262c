import { Type } from '@sinclair/typebox';
import { EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../users/user.fields.js';

const OPEN = { description: 'Fields not listed here are ignored.' };

export const EmailRequest = Type.Object(
  { email: Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH, examples: ['ada@example.com'] }) },
  OPEN,
);

// Any string up to the bound reaches the service, which answers 400 to anything that is not a live token
// (malformed, unknown, spent, expired): one answer for every wrong token, as fastapi-users gives.
const Token = Type.String({
  minLength: 1,
  maxLength: 256,
  description: 'The token from the link in the mail (after #token=)',
  examples: ['mUJdd0sxk3Dm7bQmRklvgqPp2Dkb1dMZ5vX8mEi0Q1o'],
});

export const VerifyBody = Type.Object({ token: Token }, OPEN);

export const ResetPasswordBody = Type.Object(
  {
    token: Token,
    password: Type.String({
      minLength: PASSWORD_MIN_LENGTH,
      maxLength: PASSWORD_MAX_LENGTH,
      writeOnly: true,
      examples: ['correct horse battery'],
    }),
  },
  OPEN,
);

export const Accepted = Type.Null({
  description: 'Accepted; the same answer whether or not the address has an account (a mail follows if it does)',
});
