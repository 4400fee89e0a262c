import { publishCountCache } from '../observability/channels.js';

interface Entry {
  value: Promise<number>;
  /** When the count behind `value` started (ms since the epoch): its age is measured from there. */
  countedAt: number;
  /** The count once it has arrived: what may be served while the next one runs. */
  settled?: number;
  /** How long it stays fresh: the TTL, or COUNTING_SHARE's multiple of the time the count took if longer. */
  freshMs: number;
  /** A newer count running in the background, if any (one at a time per key). */
  refreshing?: Promise<number>;
}

/**
 * Remembers row counts for a short time, so a busy list endpoint does not run COUNT(*) over a large table on
 * every request. A count is fresh for `ttlMs`; this process's own writes clear the cache at once, so a client
 * that writes and then lists through this process sees its write. Concurrent requests for one key share one
 * count, however long it runs.
 *
 * Past its freshness a count is still served, for as long again at most, while one newer count runs in the
 * background (stale-while-revalidate): a request that finds a count merely grown old does not wait. At 10M
 * users on PostgreSQL a count takes about 0.8 s, and with a 1 s TTL most list requests used to wait for one;
 * at 1M it was the p99 of every list. Older than twice its freshness, or never arrived, a count is waited for.
 *
 * A count that took long is also fresh for longer: for 1/COUNTING_SHARE times its own duration (at most
 * MAX_STRETCH TTLs), so counting one filter set keeps a database connection busy a tenth of the time at most.
 * At 10M users on this 2-core machine a 1 s TTL meant a count (3 PostgreSQL processes for 0.6-0.8 s) running
 * most of every second.
 */
/** The largest share of the time one key's counts may run (see CountCache)... */
const COUNTING_SHARE = 0.1;
/** ...up to this many TTLs of freshness: a count slowed by a busy pool must not stay for a minute. */
const MAX_STRETCH = 10;

export class CountCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 1000,
    /** The clock (tests set their own). */
    private readonly clock: () => number = Date.now,
  ) {}

  get(key: string, count: () => Promise<number>): Promise<number> {
    if (this.ttlMs <= 0) return count();
    const now = this.clock();
    const hit = this.entries.get(key);
    // Fresh, or still running: a running count is the newest there is, however long it takes (the query timeout
    // bounds it), so it is joined, not run again alongside it.
    if (hit && (hit.settled === undefined || now - hit.countedAt < hit.freshMs)) {
      publishCountCache(true);
      return hit.value;
    }
    if (hit && now - hit.countedAt < 2 * hit.freshMs) {
      publishCountCache(true);
      hit.refreshing ??= this.refresh(key, hit, count, now);
      return Promise.resolve(hit.settled as number);
    }
    publishCountCache(false);
    // A refresh already under way is the newest count there will be: wait for it rather than start another.
    if (hit?.refreshing) return hit.refreshing;
    return this.store(key, count(), now);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Remembers `value` (started at `countedAt`) as the count of `key`; a failed count is forgotten, never served. */
  private store(key: string, value: Promise<number>, countedAt: number): Promise<number> {
    // Full: start over (a replacement of a key already here does not count).
    if (!this.entries.has(key) && this.entries.size >= this.maxEntries) this.entries.clear();
    const entry: Entry = { value, countedAt, freshMs: this.ttlMs };
    this.entries.set(key, entry);
    value.then(
      (n) => {
        entry.settled = n;
        const took = this.clock() - countedAt;
        entry.freshMs = Math.max(this.ttlMs, Math.min(took / COUNTING_SHARE, this.ttlMs * MAX_STRETCH));
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return value;
  }

  /**
   * Counts `key` again in the background. Its result replaces `stale` only if `stale` is still the entry: after
   * a clear() (this process wrote), a count that started before the write must not come back as the new one.
   */
  private refresh(key: string, stale: Entry, count: () => Promise<number>, now: number): Promise<number> {
    // Started on the next turn of the event loop: with a synchronous driver (SQLite) the count runs on this
    // thread, and the request that found the stale count is answered first.
    const value = new Promise<void>((resolve) => setImmediate(resolve)).then(count);
    value.then(
      () => {
        if (this.entries.get(key) === stale) this.store(key, value, now);
      },
      () => {
        if (this.entries.get(key) === stale) this.entries.delete(key);
      },
    );
    return value;
  }
}
