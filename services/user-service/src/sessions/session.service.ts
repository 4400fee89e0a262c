import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { DataStore, RepositoryProvider } from '@user-service/data';
import { type AuditContext, type AuditEntry, recordAudit } from '../audit/audit-events.js';
import type { LocalPrincipalCache } from '../cache/local-principal-cache.js';
import type { LoadedPrincipal, UserCache } from '../cache/user-cache.js';
import { NotFoundError, UnauthorizedError } from '../errors.js';
import { publishRefreshReuse } from '../observability/channels.js';
import type { User } from '../users/user.repository.js';
import { SessionRepository } from './session.repository.js';
import { IP_MAX_LENGTH, type SessionRow, USER_AGENT_MAX_LENGTH } from './session.table.js';

export interface SessionOptions {
  /** Idle expiry of a refresh token (REFRESH_TOKEN_EXPIRE_DAYS). */
  refreshTokenDays: number;
  /** Absolute end of a session (SESSION_MAX_DAYS). */
  sessionMaxDays: number;
  /** How long a rotated refresh token still returns its successor instead of ending the session. */
  refreshReuseGraceSeconds: number;
  /** The server secret every process shares (JWT_SECRET, or the one the cluster primary hands out). */
  secret: string;
  now?: () => Date;
}

/** Where a login came from, as the sessions list shows it. */
export interface ClientInfo {
  ip?: string | null;
  userAgent?: string | null;
}

export interface IssuedSession {
  session: SessionRow;
  /** The opaque refresh token; only its hash is stored. Shown to the client once. */
  refreshToken: string;
}

/** Why a session ended, as stored in `revoked_reason`. */
export type RevokeReason =
  | 'logout'
  | 'revoked'
  | 'password_changed'
  | 'refresh_reuse'
  | 'deactivated'
  | 'logout_others'
  | 'logout_all';

const DAY_MS = 86_400_000;
// 32 random bytes in base64url: what every refresh token looks like, checked before any database work.
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;
const INVALID_REFRESH = 'Invalid or expired refresh token';

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Sessions and refresh-token rotation. A login starts a session and hands out its first refresh token; each
 * refresh uses that token up and hands out the next. Presenting a used token again means two parties hold it
 * (a stolen token, or a client that lost the answer): after the grace window the whole session ends (reuse
 * detection, RFC 6819 5.2.2.3); within it, the same successor comes back, so a client retrying a refresh whose
 * answer it lost keeps its session. The successor is derived from the presented token with the server key
 * (HMAC), which is what lets a retry get the very same token back although only hashes are stored.
 */
export class SessionService {
  private readonly sessions: SessionRepository;
  private readonly successorKey: Buffer;
  private readonly now: () => Date;
  /** The Redis principal cache (REDIS_URL with CACHE_TTL_MS > 0); undefined = every check reads the database. */
  private cache: UserCache | undefined;
  private local: LocalPrincipalCache | undefined;

  constructor(
    private readonly store: DataStore,
    private readonly options: SessionOptions,
  ) {
    this.sessions = new SessionRepository(store);
    this.successorKey = createHmac('sha256', options.secret).update('user-service refresh successor v1').digest();
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Set once by the app when the Redis cache is on: the access check reads it first, and every end of a session
   * tombstones the session's entry before it is acknowledged (the revocation notice to every instance).
   */
  setCache(cache: UserCache | undefined): void {
    this.cache = cache;
  }

  /**
   * Set once by the app when there is no Redis cache and the database has a change stamp (SQLite): the access
   * check is answered from this process's memory while nothing in the database changed (cache/local-principal-cache.ts).
   */
  setLocalCache(cache: LocalPrincipalCache | undefined): void {
    this.local = cache;
  }

  /** Starts a session for a user who has just proved who they are (recorded as `login.succeeded`). */
  async start(userId: string, client: ClientInfo = {}, context?: AuditContext): Promise<IssuedSession> {
    const now = this.now();
    const refreshToken = randomBytes(32).toString('base64url');
    return this.store.unitOfWork(async (uow) => {
      const sessions = new SessionRepository(uow);
      const session = await sessions.create({
        user_id: userId,
        // The service's clock for every time of the session, so created_at never follows last_used_at.
        created_at: now.toISOString(),
        last_used_at: now.toISOString(),
        expires_at: new Date(now.getTime() + this.options.sessionMaxDays * DAY_MS).toISOString(),
        ip: client.ip ? client.ip.slice(0, IP_MAX_LENGTH) : null,
        user_agent: client.userAgent ? client.userAgent.slice(0, USER_AGENT_MAX_LENGTH) : null,
      });
      await sessions.addToken({
        session_id: session.id,
        token_hash: sha256(refreshToken),
        created_at: now.toISOString(),
        expires_at: this.tokenExpiry(now, session),
      });
      await recordAudit(uow, context, { event: 'login.succeeded', target: userId, detail: { session_id: session.id } });
      return { session, refreshToken };
    });
  }

  /**
   * Uses a refresh token up and returns its session with the next token. Any token that is unknown, expired,
   * of an ended session, or reused after the grace window is refused with 401 (a reuse also ends the session).
   */
  async refresh(refreshToken: string, context?: AuditContext): Promise<IssuedSession> {
    if (!REFRESH_TOKEN.test(refreshToken)) throw new UnauthorizedError(INVALID_REFRESH);
    const now = this.now();
    const token = await this.sessions.tokenByHash(sha256(refreshToken));
    if (!token) throw new UnauthorizedError(INVALID_REFRESH);
    const session = await this.sessions.get(token.session_id);
    if (!session || !this.isLive(session, now) || Date.parse(token.expires_at) <= now.getTime()) {
      throw new UnauthorizedError(INVALID_REFRESH);
    }
    const successor = this.successorOf(refreshToken);
    if (token.used_at !== null) return this.reused(session, successor, token.used_at, now, context);
    const rotated = await this.store.unitOfWork(async (uow) => {
      const sessions = new SessionRepository(uow);
      // Compare-and-set: of two requests presenting the same token at once, exactly one rotates it.
      if (!(await sessions.useToken(token.id, now.toISOString()))) return undefined;
      await sessions.addToken({
        session_id: session.id,
        token_hash: sha256(successor),
        created_at: now.toISOString(),
        expires_at: this.tokenExpiry(now, session),
      });
      return (await sessions.touch(session.id, now.toISOString())) ?? session;
    });
    // The other request won the race a moment ago: this one is a retry inside the grace window.
    if (!rotated) return { session, refreshToken: successor };
    return { session: rotated, refreshToken: successor };
  }

  private async reused(
    session: SessionRow,
    successor: string,
    usedAt: string,
    now: Date,
    context: AuditContext | undefined,
  ): Promise<IssuedSession> {
    if (now.getTime() - Date.parse(usedAt) <= this.options.refreshReuseGraceSeconds * 1000) {
      return { session, refreshToken: successor };
    }
    await this.store.unitOfWork(async (uow) => {
      const ended = await new SessionRepository(uow).revoke(session.id, now.toISOString(), 'refresh_reuse');
      await recordAudit(uow, context, {
        event: 'refresh_token.reused',
        target: session.user_id,
        detail: { session_id: session.id, session_ended: ended },
      });
    });
    await this.cache?.invalidate([], [session.id]);
    publishRefreshReuse();
    throw new UnauthorizedError('Refresh token reuse detected: the session has been ended; log in again');
  }

  /**
   * The user an access token speaks for, if its session still holds: the session exists, belongs to the token's
   * subject, is not revoked and not past its absolute end, and the user is active. One primary-key read of the
   * session joined to its user, on every authenticated request (with the Redis cache: one MGET, and that read
   * on a miss); undefined otherwise.
   */
  async activeUser(sessionId: string, userId: string): Promise<User | undefined> {
    if (this.cache) return this.cache.principal(sessionId, userId, () => this.livePrincipal(sessionId, userId));
    if (this.local) return this.local.principal(sessionId, userId, () => this.livePrincipal(sessionId, userId));
    return (await this.livePrincipal(sessionId, userId))?.user;
  }

  /** The database's answer to activeUser, with the session's end (what the cache keeps); from the primary. */
  private async livePrincipal(sessionId: string, userId: string): Promise<LoadedPrincipal | undefined> {
    const row = await this.sessions.principal(sessionId);
    if (!row || row.user_id !== userId || !row.is_active || row.session_revoked_at !== null) return undefined;
    if (Date.parse(row.session_expires_at) <= this.now().getTime()) return undefined;
    const user: User = {
      id: row.user_id,
      email: row.email,
      username: row.username,
      full_name: row.full_name,
      is_active: row.is_active,
      is_superuser: row.is_superuser,
      is_verified: row.is_verified,
      verified_at: row.verified_at,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
    return { user, sessionExpiresAt: row.session_expires_at };
  }

  /** The user's live sessions, newest first. */
  list(userId: string): Promise<SessionRow[]> {
    return this.sessions.live(userId, this.now().toISOString());
  }

  /**
   * Ends one of the user's sessions; 404 when it is not theirs or already over (existence not revealed).
   * Recorded as `logout` (reason logout) or `session.revoked`, in the same unit of work.
   */
  async revoke(userId: string, sessionId: string, reason: RevokeReason, context?: AuditContext): Promise<void> {
    const session = await this.sessions.get(sessionId);
    if (!session || session.user_id !== userId || !this.isLive(session, this.now())) {
      throw new NotFoundError('Session not found');
    }
    await this.store.unitOfWork(async (uow) => {
      const ended = await new SessionRepository(uow).revoke(sessionId, this.now().toISOString(), reason);
      if (ended) await this.audit(uow, context, userId, reason, { session_id: sessionId });
    });
    await this.cache?.invalidate([], [sessionId]);
  }

  /** Ends every live session of the user but `except` (the caller's own, when it should stay); recorded. */
  async revokeAll(userId: string, reason: RevokeReason, except?: string, context?: AuditContext): Promise<number> {
    const { ended, ids } = await this.store.unitOfWork(async (uow) => {
      const revoked = await new SessionRepository(uow).revokeAll(userId, this.now().toISOString(), reason, except);
      await this.audit(uow, context, userId, reason, { sessions_ended: revoked.ended });
      return revoked;
    });
    await this.cache?.invalidate([], ids);
    return ended;
  }

  /** A logout is the user's own (`logout`, with its scope); any other ending is `session.revoked`. */
  private audit(
    uow: RepositoryProvider,
    context: AuditContext | undefined,
    userId: string,
    reason: RevokeReason,
    detail: Record<string, string | number>,
  ): Promise<void> {
    const scope = { logout: 'current', logout_others: 'others', logout_all: 'all' } as Partial<
      Record<RevokeReason, string>
    >;
    const entry: AuditEntry = scope[reason]
      ? { event: 'logout', target: userId, detail: { scope: scope[reason], ...detail } }
      : { event: 'session.revoked', target: userId, detail: { reason, ...detail } };
    return recordAudit(uow, context, entry, this.now());
  }

  private isLive(session: SessionRow, now: Date): boolean {
    return session.revoked_at === null && Date.parse(session.expires_at) > now.getTime();
  }

  private tokenExpiry(now: Date, session: SessionRow): string {
    const idle = now.getTime() + this.options.refreshTokenDays * DAY_MS;
    return new Date(Math.min(idle, Date.parse(session.expires_at))).toISOString();
  }

  private successorOf(refreshToken: string): string {
    return createHmac('sha256', this.successorKey).update(refreshToken).digest('base64url');
  }
}
