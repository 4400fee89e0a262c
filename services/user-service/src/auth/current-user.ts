import type { FastifyReply, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import type { User, UserService } from '../users/user.service.js';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string };
    user: { sub: string };
  }
}

/** A preHandler that requires a valid bearer token of an existing, active user and returns that user. */
export function currentUser(users: UserService) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<User> => {
    try {
      await request.jwtVerify();
    } catch {
      throw new UnauthorizedError('Could not validate credentials');
    }
    const user = await users.get(request.user.sub).catch(() => undefined);
    if (!user?.is_active) throw new UnauthorizedError('Could not validate credentials');
    return user;
  };
}
