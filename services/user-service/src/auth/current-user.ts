import type { FastifyReply, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import type { User } from '../users/user.service.js';
import type { AuthService } from './auth.service.js';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    /** `sub`: the user id; `pwd`: the stamp of the password the token was issued under (PasswordStamp). */
    payload: { sub: string; pwd: string };
    user: { sub: string; pwd: string; exp: number; iat: number };
  }
}

/**
 * A preHandler that requires a valid bearer token (signed by us with HS256, with `exp`, `iat` and `sub`, not
 * expired) of an existing, active user whose password has not changed since, and returns that user.
 */
export function currentUser(auth: AuthService) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<User> => {
    try {
      await request.jwtVerify();
    } catch {
      throw new UnauthorizedError('Could not validate credentials');
    }
    return auth.principal(request.user.sub, request.user.pwd);
  };
}
