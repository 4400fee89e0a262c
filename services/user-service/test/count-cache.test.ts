import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CountCache } from '../src/shared/count-cache.js';

/** A count that answers only when released: the n-th call answers n (times `scale`). */
function held(scale = 1) {
  let release: (() => void) | undefined;
  const h = {
    calls: 0,
    count: () =>
      new Promise<number>((resolve) => {
        h.calls++;
        const n = h.calls * scale;
        release = () => resolve(n);
      }),
    release: () => release?.(),
  };
  return h;
}

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
    let now = 0;
    const cache = new CountCache(20, 1000, () => now);
    let calls = 0;
    await cache.get('k', async () => ++calls);
    now = 19;
    assert.equal(await cache.get('k', async () => ++calls), 1);
    // Older than twice the TTL: waited for, not served stale.
    now = 40;
    assert.equal(await cache.get('k', async () => ++calls), 2);
  });

  it('serves an old count once more while one newer count runs, then the newer one', async () => {
    let now = 0;
    const cache = new CountCache(1000, 1000, () => now);
    const h = held(10);
    const first = cache.get('k', h.count);
    h.release();
    assert.equal(await first, 10);
    now = 1500;
    // Past the TTL: the old count at once, and one refresh (not one per request) started on the next turn.
    assert.deepEqual(await Promise.all([cache.get('k', h.count), cache.get('k', h.count)]), [10, 10]);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls, 2);
    assert.equal(await cache.get('k', h.count), 10, 'still the old count while the refresh runs');
    h.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(await cache.get('k', h.count), 20);
    assert.equal(h.calls, 2);
    // Its age counts from when the refresh was asked for (1500): fresh until 2500, then stale again.
    now = 2499;
    assert.equal(await cache.get('k', h.count), 20);
    assert.equal(h.calls, 2);
  });

  it('past twice the TTL waits for the refresh already running instead of starting another', async () => {
    let now = 0;
    const cache = new CountCache(1000, 1000, () => now);
    const h = held();
    const first = cache.get('k', h.count);
    h.release();
    await first;
    now = 1200;
    assert.equal(await cache.get('k', h.count), 1);
    await new Promise((r) => setImmediate(r));
    now = 2100;
    const waiting = cache.get('k', h.count);
    let answered = false;
    void waiting.then(() => {
      answered = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(answered, false, 'a count older than twice the TTL is not served');
    h.release();
    assert.equal(await waiting, 2);
    assert.equal(h.calls, 2);
  });

  it("does not keep a refresh that started before this process's own write (clear)", async () => {
    let now = 0;
    const cache = new CountCache(1000, 1000, () => now);
    let rows = 5;
    const releases: (() => void)[] = [];
    const count = () => {
      const seen = rows;
      return new Promise<number>((resolve) => releases.push(() => resolve(seen)));
    };
    const first = cache.get('k', count);
    releases.shift()?.();
    assert.equal(await first, 5);
    now = 1500;
    assert.equal(await cache.get('k', count), 5);
    await new Promise((r) => setImmediate(r));
    // The refresh has read 5 rows; then this process writes a sixth and clears the cache.
    rows = 6;
    cache.clear();
    releases.shift()?.();
    await new Promise((r) => setImmediate(r));
    const after = cache.get('k', count);
    releases.shift()?.();
    assert.equal(await after, 6, 'the count after the write, not the refresh from before it');
  });

  it('forgets an old count whose refresh failed: the next request counts (and sees the failure)', async () => {
    let now = 0;
    const cache = new CountCache(1000, 1000, () => now);
    assert.equal(await cache.get('k', async () => 3), 3);
    now = 1500;
    let fail = true;
    const count = async () => {
      if (fail) throw new Error('database down');
      return 4;
    };
    assert.equal(await cache.get('k', count), 3);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    await assert.rejects(cache.get('k', count), /database down/);
    fail = false;
    assert.equal(await cache.get('k', count), 4);
  });

  it('keeps a h.count count fresh for ten times as long as it took, so counting takes a tenth of the time at most', async () => {
    let now = 0;
    const cache = new CountCache(1000, 1000, () => now);
    const h = held();
    const first = cache.get('k', h.count);
    now = 500; // the count took 500 ms
    h.release();
    assert.equal(await first, 1);
    now = 4999;
    assert.equal(await cache.get('k', h.count), 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls, 1, 'fresh for 10 x 500 ms, not for the 1 s TTL');
    now = 5000;
    assert.equal(await cache.get('k', h.count), 1, 'then served while one newer count runs');
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls, 2);
    // A fast count is fresh for the TTL again.
    h.release();
    await new Promise((r) => setImmediate(r));
    now = 5999;
    assert.equal(await cache.get('k', h.count), 2);
    now = 6000;
    assert.equal(await cache.get('k', h.count), 2);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls, 3);
  });

  it('joins a count still running past the TTL instead of starting another', async () => {
    let now = 0;
    const cache = new CountCache(1000, 1000, () => now);
    const h = held();
    const first = cache.get('k', h.count);
    now = 3000; // still counting, three TTLs later
    const second = cache.get('k', h.count);
    assert.equal(h.calls, 1);
    h.release();
    assert.deepEqual(await Promise.all([first, second]), [1, 1]);
  });

  it('stretches freshness for a h.count count to ten TTLs at most', async () => {
    let now = 0;
    const cache = new CountCache(1000, 1000, () => now);
    const h = held();
    const first = cache.get('k', h.count);
    now = 4000; // a 4 s count: ten times that would be 40 s
    h.release();
    assert.equal(await first, 1);
    now = 9999;
    assert.equal(await cache.get('k', h.count), 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls, 1, 'fresh until 10 TTLs');
    now = 10_000;
    assert.equal(await cache.get('k', h.count), 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls, 2, 'refreshed after 10 TTLs, not after 40 s');
  });

  it('when full, forgets everything for a new key but not when a key already there is counted again', async () => {
    let now = 0;
    const cache = new CountCache(1000, 2, () => now);
    let calls = 0;
    const count = async () => ++calls;
    await cache.get('a', count);
    await cache.get('b', count);
    now = 1500; // both stale: 'a' is refreshed in the background, replacing itself in a full cache
    await cache.get('a', count);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 3);
    now = 1600;
    assert.equal(await cache.get('b', count), 2, "'b' is still remembered");
    await cache.get('c', count); // a new key in a full cache: starts over
    assert.equal(await cache.get('b', count), calls, "'b' counted again");
  });
});
