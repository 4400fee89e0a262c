/**
 * The access check's principal (a live session and its active user) kept in this process, for databases that
 * can say cheaply whether anything changed (Database.changeStamp: SQLite). Without REDIS_URL every bearer
 * request would otherwise read the session joined to its user: about a quarter of a lookup's cost.
 *
 * Exact, not eventually consistent: an entry is served only while the database's change stamp is the one it
 * was filled under. Any row inserted, updated or deleted since, by this process (its own connection's change
 * count) or by any other (another worker, the CLI, a second service on the same file: SQLite's data_version),
 * empties the cache before the next check reads it (rows: this process's own DDL does not move the stamp, and
 * a session or user changes only by DML). So a logout, a deactivation or a demotion, wherever it was
 * made, holds on the very next request once its commit is acknowledged, as with no cache at all. A fill is kept
 * only if the stamp did not move while its read ran (a write that committed in between could have made the read
 * stale). No stamp (inside a transaction of this connection, a busy connection) means no hit and no fill.
 *
 * Only what the database said is kept: a refused check (dead session, inactive user) is not cached. Entries are
 * frozen (requests share them) and bounded in number, oldest out first.
 */

import type { User } from '../users/user.repository.js';
import type { LoadedPrincipal } from './user-cache.js';

/**
 * PRINCIPAL_CACHE_SIZE's default and bound: sessions whose principal a process keeps. An entry costs about
 * 1.6 KB of heap (measured: 16 MB at 10k, 158 MB at 100k), and workers run with a 512 MB heap (worker-heap.ts).
 */
export const DEFAULT_PRINCIPAL_CACHE_SIZE = 10_000;
export const MAX_PRINCIPAL_CACHE_SIZE = 100_000;

interface Entry {
  user: Readonly<User>;
  expiresAtMs: number;
}

export class LocalPrincipalCache {
  private readonly entries = new Map<string, Entry>();
  private stamp: string | undefined;

  constructor(
    private readonly changeStamp: () => string | undefined,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Same contract as UserCache.principal: the user of a live session of `userId`, or undefined. */
  async principal(
    sessionId: string,
    userId: string,
    load: () => Promise<LoadedPrincipal | undefined>,
  ): Promise<User | undefined> {
    const before = this.current();
    const hit = before === undefined ? undefined : this.entries.get(sessionId);
    if (hit) {
      // The entry is the database's row as of `before`, which is still the database's state: answer as it would.
      return hit.user.id === userId && hit.expiresAtMs > this.now() ? hit.user : undefined;
    }
    const loaded = await load();
    if (!loaded) return undefined;
    // Frozen on a miss too, so a caller behaves the same whether or not the answer came from here.
    const user = Object.freeze({ ...loaded.user });
    if (before !== undefined && this.current() === before) this.fill(sessionId, user, loaded.sessionExpiresAt);
    return user;
  }

  /** The stamp now; when it moved since the last look, everything kept under the old one goes. */
  private current(): string | undefined {
    const stamp = this.changeStamp();
    if (stamp !== undefined && stamp !== this.stamp) {
      this.entries.clear();
      this.stamp = stamp;
    }
    return stamp;
  }

  private fill(sessionId: string, user: Readonly<User>, sessionExpiresAt: string): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(sessionId, { user, expiresAtMs: Date.parse(sessionExpiresAt) });
  }
}
