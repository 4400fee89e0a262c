import type { FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import type { User } from '../users/user.repository.js';
import { ANONYMOUS, type ApiKeyIdentity, type Principal } from './principal.js';

/** What the access layer needs of each credential's owner (kept structural, so access imports no services). */
export interface AccessTokenVerifier {
  verify(token: string): Promise<{ sub: string; sid: string }>;
}
export interface ApiKeyVerifier {
  authenticate(secret: string): Promise<ApiKeyIdentity | undefined>;
}
/** The user of a live session (sessions/session.service.ts), or undefined when the session no longer holds. */
export interface SessionUsers {
  activeUser(sessionId: string, userId: string): Promise<User | undefined>;
}

export interface Credentials {
  tokens: AccessTokenVerifier;
  sessions: SessionUsers;
  apiKeys: ApiKeyVerifier;
}

const API_KEY_PREFIX = 'usk_';
const BEARER = /^Bearer +(\S+) *$/i;
const INVALID = 'Could not validate credentials';

/**
 * Whether the request names a caller at all (either header); without, authenticate() below answers anonymous
 * (access control decides such a request without waiting for it).
 */
export function carriesCredentials(request: FastifyRequest): boolean {
  return request.headers.authorization !== undefined || request.headers['x-api-key'] !== undefined;
}

/**
 * Who is calling, from `Authorization: Bearer <access token | usk_ API key>` or `X-API-Key: usk_...`; anonymous
 * without either. Credentials that are present but wrong are a 401, never silently anonymous. An access token
 * holds only while its session is live and its user exists and is active: checked on every request (one
 * primary-key read of the session joined to its user), which is what makes a logout or a deactivation take
 * effect on the very next request on every process. With REDIS_URL the check is one MGET of the cached session
 * and user instead (cache/user-cache.ts), and every way a session or a user changes tombstones those entries
 * before it is acknowledged, so the same holds across instances. On SQLite without it, the answer is kept in
 * the process while the database's change stamp says nothing changed (cache/local-principal-cache.ts). API keys
 * are not cached: each use reads its row.
 */
export function authenticator(credentials: Credentials) {
  return async function authenticate(request: FastifyRequest): Promise<Principal> {
    const apiKeyHeader = request.headers['x-api-key'];
    const authorization = request.headers.authorization;
    if (apiKeyHeader !== undefined) {
      if (authorization !== undefined) throw new UnauthorizedError('Send either Authorization or X-API-Key, not both');
      return apiKey(credentials, String(apiKeyHeader));
    }
    if (authorization === undefined) return ANONYMOUS;
    const match = BEARER.exec(authorization);
    if (!match?.[1]) throw new UnauthorizedError('Authorization must be "Bearer <token>"');
    const token = match[1];
    if (token.startsWith(API_KEY_PREFIX)) return apiKey(credentials, token);
    const claims = await credentials.tokens.verify(token);
    const user = await credentials.sessions.activeUser(claims.sid, claims.sub);
    if (!user) throw new UnauthorizedError(INVALID);
    return { kind: 'user', user, sessionId: claims.sid };
  };
}

async function apiKey(credentials: Credentials, secret: string): Promise<Principal> {
  const identity = await credentials.apiKeys.authenticate(secret);
  if (!identity) throw new UnauthorizedError('Invalid, expired or revoked API key');
  return { kind: 'api_key', apiKey: identity };
}
