import { ApiError, type RequestOptions, request } from './api-client';
import type { Tokens, User } from './types';

/**
 * The signed-in superuser's session in this tab. The access token lives in memory only; the refresh token in
 * sessionStorage, so a reload keeps the session but closing the tab ends it (a copy of the tab steps aside, see
 * below). No other origin reads it. Pages of the same origin could: the only other one the service serves is
 * /docs (Swagger UI, under helmet's CSP), which runs no code but its own bundle. The access token is refreshed in
 * the background before it expires, and once more when the API answers 401 (a token that expired while the tab
 * slept).
 */

const REFRESH_KEY = 'user-service.admin.refresh';
/** Names the tab that holds the refresh token (a new one at each sign-in), so a copy of the tab can tell. */
const HOLDER_KEY = 'user-service.admin.holder';

/**
 * A refresh token may be exchanged once: a second exchange is reuse, which ends the session and is audited as a
 * possible theft. Duplicating a tab (or window.open) copies sessionStorage, token included, so the copy asks the
 * other tabs over this channel whether its holder is alive before it refreshes, and signs in afresh if so.
 */
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('user-service.admin') : undefined;

interface HolderMessage {
  type: 'who-holds' | 'held';
  holder: string;
}

function anotherTabHolds(holder: string): Promise<boolean> {
  if (!channel) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onMessage = (event: MessageEvent<HolderMessage>) => {
      if (event.data.type === 'held' && event.data.holder === holder) done(true);
    };
    const timer = setTimeout(() => done(false), 250);
    const done = (held: boolean) => {
      clearTimeout(timer);
      channel.removeEventListener('message', onMessage);
      resolve(held);
    };
    channel.addEventListener('message', onMessage);
    channel.postMessage({ type: 'who-holds', holder } satisfies HolderMessage);
  });
}

type Listener = () => void;

export class NotSuperuserError extends Error {}

export class AuthSession {
  private accessToken: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<boolean> | undefined;
  private readonly listeners = new Set<Listener>();
  /** The signed-in user (a superuser), or undefined when signed out. */
  user: User | undefined;
  /** Why the last session ended without the user asking (expired, revoked), for the sign-in page. */
  endedBecause: string | undefined;

  constructor() {
    // Answer a copy of this tab: the holder named in its storage is alive here (only a signed-in tab answers).
    channel?.addEventListener('message', (event: MessageEvent<HolderMessage>) => {
      const holder = sessionStorage.getItem(HOLDER_KEY);
      if (event.data.type === 'who-holds' && this.user && holder && event.data.holder === holder) {
        channel.postMessage({ type: 'held', holder } satisfies HolderMessage);
      }
    });
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Signs in with the API's own login; refuses (and ends the new session) unless the user is a superuser. */
  async signIn(username: string, password: string): Promise<void> {
    const tokens = await request<Tokens>('/auth/login', { method: 'POST', body: { username, password } });
    await this.adopt(tokens);
  }

  /** Resumes the tab's session after a reload; false when there is none or it no longer works. */
  async resume(): Promise<boolean> {
    if (!sessionStorage.getItem(REFRESH_KEY)) return false;
    const holder = sessionStorage.getItem(HOLDER_KEY);
    if (holder && (await anotherTabHolds(holder))) {
      // A copy of a signed-in tab: its token belongs to the other tab, which keeps using it.
      this.clear();
      this.endedBecause = 'This tab is a copy of a signed-in tab. Sign in here too, or go on in the other tab.';
      this.changed();
      return false;
    }
    try {
      return await this.refresh();
    } catch (error) {
      if (error instanceof NotSuperuserError) return false;
      throw error;
    }
  }

  private async adopt(tokens: Tokens): Promise<void> {
    const me = await request<User>('/users/me', { token: tokens.access_token });
    if (!me.is_superuser) {
      // End the session just made: it is of no use here, and nothing of it should stay in the tab.
      await request('/auth/logout', { method: 'POST', token: tokens.access_token }).catch(() => {});
      this.clear();
      this.changed();
      throw new NotSuperuserError(
        `${me.email} is not a superuser: the admin console is for superusers. Ask one to grant you the right.`,
      );
    }
    this.accessToken = tokens.access_token;
    sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    if (!sessionStorage.getItem(HOLDER_KEY)) sessionStorage.setItem(HOLDER_KEY, crypto.randomUUID());
    this.user = me;
    this.endedBecause = undefined;
    this.schedule(tokens.expires_in);
    this.changed();
  }

  private schedule(expiresIn: number): void {
    clearTimeout(this.timer);
    // At four fifths of the lifetime (15 min tokens: after 12 min), leaving time for a retry.
    const ms = Math.max(5_000, expiresIn * 800);
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {
        // A lost connection: try again in a while; a refused refresh has signed out already.
        this.schedule(60);
      });
    }, ms);
  }

  /** Exchanges the refresh token for a new pair (one exchange at a time); false and signed out when refused. */
  refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const refreshToken = sessionStorage.getItem(REFRESH_KEY);
      if (!refreshToken) return false;
      try {
        await this.adopt(
          await request<Tokens>('/auth/refresh', { method: 'POST', body: { refresh_token: refreshToken } }),
        );
        return true;
      } catch (error) {
        if (error instanceof ApiError && (error.status === 401 || error.status === 403 || error.status === 422)) {
          this.end('Your session ended (it expired or was revoked). Please sign in again.');
          return false;
        }
        throw error;
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** A request with the session's token; on 401 one refresh and one retry, then signed out. */
  async api<T>(path: string, options: Omit<RequestOptions, 'token'> = {}): Promise<T> {
    try {
      return await request<T>(path, { ...options, token: this.accessToken });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      if (!(await this.refresh())) throw error;
      return request<T>(path, { ...options, token: this.accessToken });
    }
  }

  /**
   * Signs out: the session ends on the server too (its refresh token stops working). `reason`, when given, is
   * shown on the sign-in page (e.g. after the user took their own superuser role away).
   */
  async signOut(reason?: string): Promise<void> {
    const token = this.accessToken;
    this.clear();
    this.endedBecause = reason;
    this.changed();
    if (token) await request('/auth/logout', { method: 'POST', token }).catch(() => {});
  }

  private end(reason: string): void {
    this.clear();
    this.endedBecause = reason;
    this.changed();
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.accessToken = undefined;
    this.user = undefined;
    sessionStorage.removeItem(REFRESH_KEY);
    sessionStorage.removeItem(HOLDER_KEY);
  }
}

export const session = new AuthSession();
