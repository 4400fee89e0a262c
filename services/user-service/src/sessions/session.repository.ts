/**
 * The queries sessions and refresh tokens need: the only code that reaches `sessions` and `refresh_tokens`.
 * Built over whatever executor the caller hands in (the database or a unit of work); it never commits.
 */
import type { NewRow, RepositoryProvider } from '@user-service/data';
import { publishSessionsRevoked } from '../observability/channels.js';
import { type RefreshTokenRow, refreshTokensTable } from './refresh-token.table.js';
import { type SessionRow, sessionsTable } from './session.table.js';
import { type SessionPrincipalRow, sessionPrincipalsView } from './session-principal.view.js';

export type NewSession = NewRow<SessionRow, 'id' | 'created_at' | 'updated_at' | 'revoked_at' | 'revoked_reason'>;
export type RefreshToken = Omit<RefreshTokenRow, 'token_hash'>;

/** The most sessions GET /auth/sessions lists (newest first); older live ones still work. */
export const SESSION_LIST_LIMIT = 100;

export class SessionRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get sessions() {
    return this.store.repository(sessionsTable);
  }

  private get tokens() {
    return this.store.repository(refreshTokensTable);
  }

  create(row: NewSession): Promise<SessionRow> {
    return this.sessions.create(row);
  }

  get(id: string): Promise<SessionRow | undefined> {
    return this.sessions.get(id);
  }

  /** The session with its user (the session_principals view): one primary-key read. */
  principal(id: string): Promise<SessionPrincipalRow | undefined> {
    return this.store.repository(sessionPrincipalsView).get(id);
  }

  /** The user's sessions that are neither revoked nor past their end, newest first. */
  async live(userId: string, now: string): Promise<SessionRow[]> {
    const page = await this.sessions.list({
      filters: { user_id: userId, revoked_at: null, expires_at: { gt: now } },
      orderBy: { column: 'created_at', direction: 'desc' },
      limit: SESSION_LIST_LIMIT,
    });
    return page.items;
  }

  touch(id: string, now: string): Promise<SessionRow | undefined> {
    return this.sessions.update(id, { last_used_at: now });
  }

  // Every way a session ends passes here, so the sessions-revoked metric is counted here (inside a unit of
  // work that later rolls back it over-counts; the metric is a rate, not a ledger).

  /** Ends one session (if it is still live); true when it was. */
  async revoke(id: string, now: string, reason: string): Promise<boolean> {
    const ended = await this.sessions.updateWhere(
      { id, revoked_at: null },
      { revoked_at: now, revoked_reason: reason },
    );
    publishSessionsRevoked(reason, ended);
    return ended > 0;
  }

  /**
   * Ends every live session of the user, but `except` when given: how many ended, and their ids (for the
   * cache's revocation notices, cache/user-cache.ts). The ids are read after the UPDATE, in the same unit of
   * work, as the rows it marked (this reason, revoked from `now` - 1 s on: a little more than the UPDATE's own
   * rows, never fewer, whatever the column's precision): a session that another transaction committed between a
   * SELECT and the UPDATE cannot be ended without being named, as it could if the ids were read first.
   */
  async revokeAll(
    userId: string,
    now: string,
    reason: string,
    except?: string,
  ): Promise<{ ended: number; ids: string[] }> {
    const ended = await this.sessions.updateWhere(
      { user_id: userId, revoked_at: null, ...(except ? { id: { ne: except } } : {}) },
      { revoked_at: now, revoked_reason: reason },
    );
    publishSessionsRevoked(reason, ended);
    if (ended === 0) return { ended, ids: [] };
    const since = new Date(Date.parse(now) - 1_000).toISOString();
    const ids: string[] = [];
    let after: string | undefined;
    do {
      const page = await this.sessions.list({
        filters: { user_id: userId, revoked_reason: reason, revoked_at: { gte: since } },
        limit: 500,
        ...(after ? { after } : {}),
      });
      ids.push(...page.items.map((session) => session.id));
      after = page.nextCursor ?? undefined;
    } while (after);
    return { ended, ids };
  }

  /** The ids of the user's sessions that are not revoked (a user's delete names them to the cache). */
  async liveIds(userId: string): Promise<string[]> {
    const ids: string[] = [];
    let after: string | undefined;
    do {
      const page = await this.sessions.list({
        filters: { user_id: userId, revoked_at: null },
        limit: 500,
        ...(after ? { after } : {}),
      });
      ids.push(...page.items.map((session) => session.id));
      after = page.nextCursor ?? undefined;
    } while (after);
    return ids;
  }

  addToken(row: {
    session_id: string;
    token_hash: string;
    created_at: string;
    expires_at: string;
  }): Promise<RefreshToken> {
    return this.tokens.create(row);
  }

  /** The refresh token with this hash (what the client presented, hashed), or undefined. */
  tokenByHash(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    return this.tokens.getBy({ token_hash: tokenHash }, { secrets: ['token_hash'] });
  }

  /** Marks the token used unless it already was: true for exactly one of any number of concurrent callers. */
  async useToken(id: string, now: string): Promise<boolean> {
    return (await this.tokens.updateWhere({ id, used_at: null }, { used_at: now })) === 1;
  }
}
