import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VerifiedTokens } from '../src/auth/verified-tokens.js';

describe('the cache of verified access tokens', () => {
  it('answers a token until it expires (plus the tolerance), then forgets it', () => {
    const cache = new VerifiedTokens<{ exp: number; sub: string }>(10, 5);
    cache.set('t1', { exp: 1000, sub: 'a' });
    assert.deepEqual(cache.get('t1', 999), { exp: 1000, sub: 'a' });
    assert.deepEqual(cache.get('t1', 1004.9), { exp: 1000, sub: 'a' }, 'within the clock tolerance');
    assert.equal(cache.get('t1', 1005), undefined, 'expired');
    assert.equal(cache.get('t1', 999), undefined, 'and dropped');
    assert.equal(cache.get('unknown', 0), undefined);
  });

  it('holds at most its capacity, dropping the oldest entry first', () => {
    const cache = new VerifiedTokens<{ exp: number }>(3);
    for (const token of ['a', 'b', 'c', 'd']) cache.set(token, { exp: 10 });
    assert.equal(cache.get('a', 0), undefined);
    for (const token of ['b', 'c', 'd']) assert.deepEqual(cache.get(token, 0), { exp: 10 });
    cache.clear();
    assert.equal(cache.get('d', 0), undefined);
  });
});
