/**
 * A @fastify/rate-limit store that counts in Redis when REDIS_URL is set, so every instance and worker process
 * shares one budget per client IP (the auth routes' AUTH_RATE_LIMIT_PER_MINUTE, the mail routes' limit), and
 * falls back to counting in this process's memory while Redis is unreachable: a Redis outage neither fails
 * requests nor lifts the limits, it only makes them per process again (as without Redis) until Redis is back.
 * (@fastify/rate-limit's own `redis` option with `skipOnError` would stop limiting altogether meanwhile.)
 *
 * Redis counts in fixed windows: INCR, and PEXPIRE on the first hit of a window, in one script (atomic, one
 * round trip). Keys are `us:rl:<route>:<ip>`; they expire with their window.
 */
import type { FastifyRateLimitOptions, FastifyRateLimitStore } from '@fastify/rate-limit';
import type { RedisConnection } from './redis-connection.js';

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

const INCREMENT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}`;

/** Windows kept in memory at most (as @fastify/rate-limit's own local store, an LRU of 5000 by default). */
const MEMORY_WINDOWS = 10_000;

/**
 * This process's counters, for when Redis is away: fixed windows, swept when the map grows. Past MEMORY_WINDOWS
 * live windows (a flood from many addresses, say over IPv6) the oldest are dropped: those clients start
 * counting again, but memory stays bounded (expired windows alone were swept, so one window's worth of
 * distinct keys grew the map without limit).
 */
class MemoryCounts {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  incr(key: string, timeWindow: number): { current: number; ttl: number } {
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      if (this.windows.size >= MEMORY_WINDOWS) this.sweep(now);
      window = { count: 0, resetAt: now + timeWindow };
      // Re-inserted, so the map's order stays the order windows began (oldest first).
      this.windows.delete(key);
      this.windows.set(key, window);
    }
    window.count += 1;
    return { current: window.count, ttl: window.resetAt - now };
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
    for (const key of this.windows.keys()) {
      if (this.windows.size < MEMORY_WINDOWS) break;
      this.windows.delete(key);
    }
  }
}

/** The store class @fastify/rate-limit instantiates (its `store` option), bound to this process's connection. */
export function sharedRateLimitStore(redis: RedisConnection) {
  const memory = new MemoryCounts();
  // EVALSHA with the script's hash (ioredis sends the script again after a Redis restart forgot it).
  if (!('usRateLimit' in redis.client)) redis.client.defineCommand('usRateLimit', { numberOfKeys: 1, lua: INCREMENT });
  const client = redis.client as unknown as { usRateLimit(key: string, windowMs: string): Promise<[number, number]> };
  class SharedStore implements FastifyRateLimitStore {
    constructor(
      _options?: FastifyRateLimitOptions,
      private readonly namespace = 'us:rl:all:',
    ) {}

    incr(key: string, callback: Callback, timeWindow: number, _max: number): void {
      const redisKey = this.namespace + key;
      const local = () => callback(null, memory.incr(redisKey, timeWindow));
      if (!redis.healthy) {
        local();
        return;
      }
      redis
        .run('ratelimit', () => client.usRateLimit(redisKey, String(timeWindow)))
        .then((answer) => (answer ? callback(null, { current: answer[0], ttl: answer[1] }) : local()), local);
    }

    child(routeOptions: unknown): FastifyRateLimitStore {
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo;
      return new SharedStore(undefined, route?.url ? `us:rl:${route.method} ${route.url}:` : this.namespace);
    }
  }
  return SharedStore;
}
