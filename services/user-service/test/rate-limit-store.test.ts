/**
 * The rate-limit store's fallback to process memory while Redis is unreachable (src/cache/rate-limit-store.ts):
 * bounded however many client addresses arrive within one window.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedRateLimitStore } from '../src/cache/rate-limit-store.js';
import type { RedisConnection } from '../src/cache/redis-connection.js';

test('while Redis is down, a flood of distinct addresses in one window does not grow memory without bound', () => {
  // Redis unreachable: every count is in memory.
  const redis = { healthy: false, client: { defineCommand() {} } } as unknown as RedisConnection;
  const Store = sharedRateLimitStore(redis);
  const store = new Store();
  const incr = (key: string) => {
    let answer: { current: number; ttl: number } | undefined;
    store.incr(key, (_error, result) => (answer = result), 60_000, 5);
    return answer!.current;
  };
  assert.equal(incr('first'), 1);
  assert.equal(incr('first'), 2, 'counts within the window');
  for (let i = 0; i < 30_000; i++) incr(`flood-${i}`);
  // The oldest window was dropped to make room: that client counts from the start again.
  assert.equal(incr('first'), 1);
  // The newest ones are still counted.
  assert.equal(incr('flood-29999'), 2);
});
