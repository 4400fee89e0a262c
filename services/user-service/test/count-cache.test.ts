import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CountCache } from '../src/shared/count-cache.js';

describe('count cache', () => {
  it('serves a count for its TTL, shares concurrent misses, and forgets on clear', async () => {
    const cache = new CountCache(60_000);
    let calls = 0;
    const count = async () => ++calls;
    const [a, b] = await Promise.all([cache.get('k', count), cache.get('k', count)]);
    assert.deepEqual([a, b, calls], [1, 1, 1]);
    assert.equal(await cache.get('k', count), 1);
    assert.equal(await cache.get('other', count), 2);
    cache.clear();
    assert.equal(await cache.get('k', count), 3);
  });

  it('counts every time with a TTL of 0, and never caches a failure', async () => {
    let calls = 0;
    const none = new CountCache(0);
    await none.get('k', async () => ++calls);
    await none.get('k', async () => ++calls);
    assert.equal(calls, 2);
    const cache = new CountCache(60_000);
    await assert.rejects(
      cache.get('k', async () => Promise.reject(new Error('down'))),
      /down/,
    );
    assert.equal(await cache.get('k', async () => 7), 7);
  });

  it('expires entries after the TTL', async () => {
    const cache = new CountCache(20);
    let calls = 0;
    await cache.get('k', async () => ++calls);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(await cache.get('k', async () => ++calls), 2);
  });
});
