/**
 * The process's one Redis client (REDIS_URL), set up to fail fast: Redis is an accelerator and a place for
 * shared counters, never something a request waits on. A request that meets a Redis that is down, restarting
 * or slow goes on with the database (the caches) or the process's own memory (the rate limits), and never
 * answers 500 because of Redis.
 *
 * - enableOfflineQueue false: while disconnected a command fails at once instead of queueing until reconnect.
 * - maxRetriesPerRequest 0: a command in flight when the connection drops fails at once, it is not replayed.
 * - commandTimeout (100 ms): a Redis that accepts but does not answer costs a request at most that, and
 *   FAILURES_BEFORE_RECONNECT such failures in a row mark it down and reconnect.
 * - retryStrategy: reconnects forever with a capped backoff (100 ms more per attempt, at most 2 s), so the
 *   service picks Redis up again by itself.
 *
 * `healthy` is what the callers check first: while it is false they do not even try (no timeout to wait for).
 * The state changes are logged once each way: a warning when Redis becomes unreachable, an info line when it is
 * back. The URL in those lines has its password replaced by ***.
 *
 * Invalidations (tombstones, see user-cache.ts) that could not be written while Redis was unreachable are kept
 * (up to MAX_PENDING keys) and written when it is reachable again, before this process uses the cache again.
 */
import { redactUrl } from '@user-service/data';
import { Redis } from 'ioredis';
import { publishRedisCommand, publishRedisState, redisCommandObserved } from '../observability/channels.js';

export interface RedisLog {
  warn(message: string): void;
  info(message: string): void;
}

export interface RedisConnectionOptions {
  /** The longest a command may take before the caller goes on without it (default 100 ms). */
  commandTimeoutMs?: number;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 100;
const FAILURES_BEFORE_RECONNECT = 3;
/** Keys whose tombstone is still to be written; past this many the oldest are dropped (with a warning). */
const MAX_PENDING = 100_000;

export class RedisConnection {
  readonly client: Redis;
  /** The URL as it may be shown (password replaced by ***). */
  readonly displayUrl: string;
  private up = false;
  /** Whether the "unreachable" warning has been given since Redis was last up (it is given once). */
  private warned = false;
  private failuresInARow = 0;
  private closed = false;
  /** Tombstones to write (key -> lifetime), oldest first; an entry is replaced, not updated, when kept again. */
  private readonly pending = new Map<string, { ms: number }>();

  constructor(
    url: string,
    private readonly log: RedisLog,
    options: RedisConnectionOptions = {},
  ) {
    this.displayUrl = redactUrl(url);
    this.client = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      connectTimeout: 1_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
      // The service's own name in CLIENT LIST, so an operator sees who holds connections.
      connectionName: 'user-service',
    });
    this.client.on('ready', () => void this.becameReachable());
    this.client.on('close', () => this.becameUnreachable('connection closed'));
    // ioredis emits an error for every failed reconnect attempt; only the first after "up" is logged.
    this.client.on('error', (error: Error) => this.becameUnreachable(error.message));
    publishRedisState(false);
  }

  /** Whether commands are worth sending: connected, and the last ones answered. */
  get healthy(): boolean {
    return this.up;
  }

  /**
   * Runs one command (or pipeline) and returns its answer, or undefined when Redis is down, the command failed
   * or timed out (the caller then does without Redis). Never throws.
   */
  async run<T>(command: string, send: (client: Redis) => Promise<T>): Promise<T | undefined> {
    if (!this.up) return undefined;
    const started = redisCommandObserved() ? performance.now() : 0;
    try {
      const answer = await send(this.client);
      this.failuresInARow = 0;
      if (started) publishRedisCommand(command, performance.now() - started, true);
      return answer;
    } catch (error) {
      if (started) publishRedisCommand(command, performance.now() - started, false);
      if (++this.failuresInARow >= FAILURES_BEFORE_RECONNECT && this.up) {
        this.becameUnreachable(`${FAILURES_BEFORE_RECONNECT} commands failed in a row: ${(error as Error).message}`);
        // A Redis that accepts connections but does not answer: reconnect (the ready check proves it answers).
        this.client.disconnect(true);
      }
      return undefined;
    }
  }

  /** Remembers tombstones that could not be written, to write them once Redis is back (see becameReachable). */
  keepForLater(keys: readonly string[], tombstoneMs: number): void {
    // This process stops reading the cache until they are written: it reconnects, and 'ready' writes them first.
    if (this.up) {
      this.becameUnreachable('an invalidation could not be written');
      this.client.disconnect(true);
    }
    for (const key of keys) {
      this.pending.delete(key);
      this.pending.set(key, { ms: tombstoneMs });
    }
    if (this.pending.size > MAX_PENDING) {
      for (const key of this.pending.keys()) {
        this.pending.delete(key);
        if (this.pending.size <= MAX_PENDING) break;
      }
      this.log.warn(
        `Redis: more than ${MAX_PENDING} invalidations wait for Redis to come back; the oldest are dropped (those entries expire by CACHE_TTL_MS)`,
      );
    }
  }

  /** How many invalidations wait for Redis (tests, metrics). */
  get pendingInvalidations(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    publishRedisState(false);
    if (this.client.status === 'ready') {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
  }

  private async becameReachable(): Promise<void> {
    if (this.closed) return;
    // Invalidations missed while Redis was away are written before this process reads the cache again. Until
    // `up` is set, invalidations still go to `pending` (a write committing while these are in flight): so loop
    // until none is left, or one kept meanwhile would never be written while the cache is in use again.
    while (this.pending.size > 0) {
      const entries = [...this.pending];
      const pipeline = this.client.pipeline();
      for (const [key, { ms }] of entries) pipeline.set(key, '!', 'PX', ms);
      try {
        const results = (await pipeline.exec()) ?? [];
        if (results.some(([error]) => error)) throw new Error('a tombstone was refused');
        // Kept again meanwhile (another write of the same key): written on the next turn, after that write.
        for (const [key, entry] of entries) if (this.pending.get(key) === entry) this.pending.delete(key);
      } catch {
        // Still not writable: reconnect (with the retry backoff) so that the next 'ready' tries again; the cache
        // stays bypassed meanwhile.
        this.client.disconnect(true);
        return;
      }
      if (this.closed) return;
    }
    this.up = true;
    this.failuresInARow = 0;
    publishRedisState(true);
    if (this.warned) {
      this.warned = false;
      this.log.info(`Redis at ${this.displayUrl} is reachable again: cache and shared rate limits in use`);
    }
  }

  private becameUnreachable(why: string): void {
    if (this.closed) return;
    const wasUp = this.up;
    this.up = false;
    if (wasUp) publishRedisState(false);
    if (!this.warned) {
      this.warned = true;
      this.log.warn(
        `Redis at ${this.displayUrl} is unreachable (${why}): serving from the database without the cache, rate limits per process, until it is back`,
      );
    }
  }
}
