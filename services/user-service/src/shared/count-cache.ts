import { publishCountCache } from '../observability/channels.js';

/**
 * Remembers row counts for a short time, so a busy list endpoint does not run COUNT(*) over a large table on
 * every request. A count is at most `ttlMs` old; this process's own writes clear the cache at once, so a
 * client that writes and then lists sees its write. Concurrent misses for one key share one query.
 */
export class CountCache {
  private readonly entries = new Map<string, { value: Promise<number>; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 1000,
  ) {}

  get(key: string, count: () => Promise<number>): Promise<number> {
    if (this.ttlMs <= 0) return count();
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) {
      publishCountCache(true);
      return hit.value;
    }
    publishCountCache(false);
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    const value = count();
    this.entries.set(key, { value, expires: now + this.ttlMs });
    // A failed count must not be served from the cache.
    value.catch(() => this.entries.delete(key));
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}
