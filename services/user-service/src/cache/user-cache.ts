/**
 * The Redis cache of user lookups (by id, email, username) and of the access check's principal (a session and
 * its user), shared by every instance and process that has the same REDIS_URL. Cache-aside with tombstones:
 *
 * Keys: `us:u:id:<id>`, `us:u:email:<email>`, `us:u:name:<username>` hold a user's public fields as JSON (the
 * repository's `User`, which never carries the password hash); `us:s:<session id>` holds `{user_id, expires_at}`
 * of a live session. Misses (unknown users, dead sessions) are never cached.
 *
 * Write: a change to a user row (create, update, (de)activation, email/username change, password change,
 * verification, rehash, delete) and every end of a session, once committed and before it is acknowledged,
 * writes a TOMBSTONE, `SET key "!" PX TOMBSTONE_MS`, over every key it affects (id, old and new email, old and
 * new username, the sessions it ended). Not a DEL: the tombstone is what stops an older read's fill.
 *
 * Read: GET (MGET for the principal). A value that is not "!" is a hit and is returned. Otherwise (no key, or a
 * tombstone) note a monotonic start time, read the PRIMARY database (never a replica: the fill must see every
 * committed write), then fill with `SET key value PX ttl NX`, and only if (now - start) < TOMBSTONE_MS -
 * FILL_MARGIN_MS.
 *
 * Why no client reads a value older than its own acknowledged write: let a fill carry an old value, i.e. its
 * database read ran before some write W committed. W's tombstone is written after W commits, so at a time
 * t_w > read >= start, and it lives until t_w + TOMBSTONE_MS. The fill runs before start + TOMBSTONE_MS -
 * FILL_MARGIN_MS < t_w + TOMBSTONE_MS, so while the tombstone is still there: NX refuses it. If instead the fill
 * landed first, W's tombstone (a plain SET) overwrites it. Either way, once W is acknowledged the key holds no
 * value older than W: the next read misses (tombstone) and reads the primary, or hits a value filled by a read
 * that started after W. The margin (2 s) covers the time between measuring `now` and Redis executing the SET
 * (a command times out after 100 ms on the client, but one already sent may still run a little later) and
 * clock-rate differences between this process and Redis over the 10 s. Everyone else's staleness is bounded by
 * the TTL (CACHE_TTL_MS): an entry is at most that old, and every entry was fresh when filled.
 *
 * When Redis is unreachable every call here is bypassed (database only); tombstones that could not be written
 * are kept and written when Redis is back, before this process reads the cache again (redis-connection.ts).
 * Instances that still reach Redis while this one does not may meanwhile serve an entry this one's write made
 * stale, until its TTL runs out: that is the one case where staleness is bounded by CACHE_TTL_MS alone.
 */

import { type CacheKeyKind, publishUserCache } from '../observability/channels.js';
import type { User } from '../users/user.repository.js';
import type { RedisConnection } from './redis-connection.js';

export const TOMBSTONE = '!';
/** How long a tombstone lives: longer than any fill that started before it may take (see above). */
export const TOMBSTONE_MS = 10_000;
/** A fill later than TOMBSTONE_MS - FILL_MARGIN_MS after its read started is dropped. */
export const FILL_MARGIN_MS = 2_000;

const PREFIX = 'us:';
export const cacheKeys = {
  id: (id: string) => `${PREFIX}u:id:${id}`,
  email: (email: string) => `${PREFIX}u:email:${email}`,
  username: (username: string) => `${PREFIX}u:name:${username}`,
  session: (sessionId: string) => `${PREFIX}s:${sessionId}`,
} satisfies Record<CacheKeyKind, (value: string) => string>;

/** A live session as the principal check needs it. */
export interface CachedSession {
  user_id: string;
  expires_at: string;
}

/** What the principal check reads from the database on a miss: the user of a live session, and its end. */
export interface LoadedPrincipal {
  user: User;
  sessionExpiresAt: string;
}

/**
 * Test seam: runs between a miss's database read and its fill (a test holds a fill back here to let a write
 * happen in between). Unset in the service.
 */
export const cacheTestHooks: { beforeFill?: (keys: readonly string[]) => Promise<void> } = {};

export interface UserCacheOptions {
  /** CACHE_TTL_MS: how long a filled entry lives. */
  ttlMs: number;
  /** Overrides for tests of the fill rule; the defaults are the constants above. */
  tombstoneMs?: number;
  fillMarginMs?: number;
  now?: () => number;
}

export class UserCache {
  private readonly ttlMs: number;
  private readonly tombstoneMs: number;
  private readonly fillWindowMs: number;
  private readonly now: () => number;

  constructor(
    private readonly redis: RedisConnection,
    options: UserCacheOptions,
  ) {
    this.ttlMs = options.ttlMs;
    this.tombstoneMs = options.tombstoneMs ?? TOMBSTONE_MS;
    this.fillWindowMs = this.tombstoneMs - (options.fillMarginMs ?? FILL_MARGIN_MS);
    this.now = options.now ?? (() => Date.now());
  }

  /** The user under this key (id, or an email/username already normalised), from Redis or from `load`. */
  async user(
    kind: 'id' | 'email' | 'username',
    value: string,
    load: () => Promise<User | undefined>,
  ): Promise<User | undefined> {
    const key = cacheKeys[kind](value);
    const cached = this.redis.healthy ? await this.redis.run('get', (c) => c.get(key)) : undefined;
    if (cached === undefined) {
      publishUserCache(kind, 'bypass');
      return load();
    }
    const hit = cached === null || cached === TOMBSTONE ? undefined : parse<User>(cached);
    if (hit) {
      publishUserCache(kind, 'hit');
      return hit;
    }
    publishUserCache(kind, 'miss');
    const started = performance.now();
    const user = await load();
    // Only under the spelling the user is stored under: that is the key a change tombstones. The database may
    // find a user by another one (an id in upper case matches PostgreSQL's uuid type and MariaDB's default
    // collation, which also folds accents in an email); cached, that entry would outlive every later change
    // and even a delete, up to its TTL.
    if (user && storedSpelling(kind, user) === value) {
      await this.fill([[key, JSON.stringify(user), this.ttlMs]], started);
    }
    return user;
  }

  /**
   * The access check: the user of session `sessionId` if it is live, belongs to `userId` and the user is
   * active. One MGET of the session and user entries; both there => no database read. Otherwise `load` (the
   * primary's session joined to its user) and fill both.
   */
  async principal(
    sessionId: string,
    userId: string,
    load: () => Promise<LoadedPrincipal | undefined>,
  ): Promise<User | undefined> {
    const sessionKey = cacheKeys.session(sessionId);
    const userKey = cacheKeys.id(userId);
    const cached = this.redis.healthy ? await this.redis.run('mget', (c) => c.mget(sessionKey, userKey)) : undefined;
    if (cached === undefined) {
      publishUserCache('session', 'bypass');
      return (await load())?.user;
    }
    const [sessionText, userText] = cached;
    const session = sessionText && sessionText !== TOMBSTONE ? parse<CachedSession>(sessionText) : undefined;
    const user = userText && userText !== TOMBSTONE ? parse<User>(userText) : undefined;
    if (session && user) {
      publishUserCache('session', 'hit');
      const live = Date.parse(session.expires_at) > this.now();
      return live && session.user_id === userId && user.id === userId && user.is_active ? user : undefined;
    }
    publishUserCache('session', 'miss');
    const started = performance.now();
    const loaded = await load();
    if (!loaded) return undefined;
    // A session entry never outlives the session.
    const sessionTtl = Math.min(this.ttlMs, Date.parse(loaded.sessionExpiresAt) - this.now());
    const fills: [string, string, number][] = [[userKey, JSON.stringify(loaded.user), this.ttlMs]];
    if (sessionTtl > 0) {
      const entry: CachedSession = { user_id: loaded.user.id, expires_at: loaded.sessionExpiresAt };
      fills.push([sessionKey, JSON.stringify(entry), sessionTtl]);
    }
    await this.fill(fills, started);
    return loaded.user;
  }

  /**
   * Tombstones every key of these users (as they were before and after a change: id, each email, each
   * username) and of these sessions. Called after the change committed, before it is acknowledged.
   */
  async invalidate(users: readonly (User | undefined)[], sessionIds: readonly string[] = []): Promise<void> {
    const keys = new Set<string>();
    for (const user of users) {
      if (!user) continue;
      keys.add(cacheKeys.id(user.id));
      keys.add(cacheKeys.email(user.email));
      if (user.username) keys.add(cacheKeys.username(user.username));
    }
    for (const sessionId of sessionIds) keys.add(cacheKeys.session(sessionId));
    if (keys.size === 0) return;
    const list = [...keys];
    const written = await this.redis.run('tombstone', async (c) => {
      const pipeline = c.pipeline();
      for (const key of list) pipeline.set(key, TOMBSTONE, 'PX', this.tombstoneMs);
      const results = (await pipeline.exec()) ?? [];
      if (results.length !== list.length || results.some(([error]) => error)) throw new Error('tombstone refused');
      return true;
    });
    // Not written (Redis down, slow or refusing): written when Redis is back, before this process reads it again.
    if (!written) this.redis.keepForLater(list, this.tombstoneMs);
  }

  /** SET NX each entry, unless the read behind them started too long ago for a tombstone to still guard it. */
  private async fill(entries: [key: string, value: string, ttlMs: number][], started: number): Promise<void> {
    await cacheTestHooks.beforeFill?.(entries.map(([key]) => key));
    if (performance.now() - started >= this.fillWindowMs) return;
    await this.redis.run('fill', async (c) => {
      const pipeline = c.pipeline();
      for (const [key, value, ttl] of entries) pipeline.set(key, value, 'PX', Math.max(1, Math.floor(ttl)), 'NX');
      return pipeline.exec();
    });
  }
}

function storedSpelling(kind: 'id' | 'email' | 'username', user: User): string | null {
  return kind === 'id' ? user.id : kind === 'email' ? user.email : user.username;
}

function parse<T>(text: string): T | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}
