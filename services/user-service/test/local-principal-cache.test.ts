/**
 * LocalPrincipalCache's rules with a stamp the test moves by hand (the database-backed behaviour is in
 * principal-cache.api.test.ts): a fill whose read overlapped a change is dropped, no stamp means no hit, an entry
 * answers as the database would (wrong user, expired session), entries are frozen and bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalPrincipalCache } from '../src/cache/local-principal-cache.js';
import type { LoadedPrincipal } from '../src/cache/user-cache.js';
import type { User } from '../src/users/user.repository.js';

const NOW = Date.parse('2026-11-25T00:00:00.000Z');

function user(id: string, overrides: Partial<User> = {}): User {
  return {
    id,
    email: `${id}@example.com`,
    username: null,
    full_name: null,
    is_active: true,
    is_superuser: false,
    is_verified: false,
    verified_at: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** A cache over a stamp the test controls, and a loader that counts its calls. */
function setup(maxEntries = 100) {
  const state = { stamp: '1' as string | undefined, loads: 0 };
  const cache = new LocalPrincipalCache(
    () => state.stamp,
    maxEntries,
    () => NOW,
  );
  const loader =
    (loaded: LoadedPrincipal | undefined, during?: () => void) => async (): Promise<LoadedPrincipal | undefined> => {
      state.loads++;
      during?.();
      return loaded;
    };
  return { state, cache, loader };
}

const live = (u: User): LoadedPrincipal => ({ user: u, sessionExpiresAt: '2026-11-26T00:00:00.000Z' });

describe('LocalPrincipalCache', () => {
  it('serves a filled entry while the stamp holds, and reads again once it moves', async () => {
    const { state, cache, loader } = setup();
    const alice = user('a');
    assert.equal((await cache.principal('s1', 'a', loader(live(alice))))?.id, 'a');
    assert.equal((await cache.principal('s1', 'a', loader(live(alice))))?.id, 'a');
    assert.equal(state.loads, 1);
    state.stamp = '2';
    const renamed = user('a', { full_name: 'Renamed' });
    assert.equal((await cache.principal('s1', 'a', loader(live(renamed))))?.full_name, 'Renamed');
    assert.equal(state.loads, 2);
  });

  it('drops a fill when another check saw the stamp move while the read ran', async () => {
    // The read of session s1 runs; meanwhile a write commits and a check for s2 sees the new stamp (and adopts
    // it). s1's read may predate that write, so what it found must not be kept under the new stamp.
    const { state, cache, loader } = setup();
    const stale = user('a', { is_superuser: true });
    await cache.principal(
      's1',
      'a',
      loader(live(stale), () => {
        state.stamp = '2';
        void cache.principal('s2', 'b', loader(live(user('b'))));
      }),
    );
    const demoted = user('a', { is_superuser: false });
    assert.equal((await cache.principal('s1', 'a', loader(live(demoted))))?.is_superuser, false);
  });

  it('neither serves nor fills without a stamp', async () => {
    const { state, cache, loader } = setup();
    await cache.principal('s1', 'a', loader(live(user('a'))));
    state.stamp = undefined;
    await cache.principal('s1', 'a', loader(live(user('a'))));
    await cache.principal('s1', 'a', loader(live(user('a'))));
    assert.equal(state.loads, 3);
    state.stamp = '1';
    // "Unknown" is not a change: once the stamp reads '1' again, the entry filled under '1' is still the database's.
    await cache.principal('s1', 'a', loader(live(user('a'))));
    assert.equal(state.loads, 3);
  });

  it('does not keep a refusal (dead session, inactive user)', async () => {
    const { state, cache, loader } = setup();
    assert.equal(await cache.principal('s1', 'a', loader(undefined)), undefined);
    assert.equal((await cache.principal('s1', 'a', loader(live(user('a')))))?.id, 'a');
    assert.equal(state.loads, 2);
  });

  it('answers for the token subject only, and not past the session end', async () => {
    const { cache, loader } = setup();
    await cache.principal('s1', 'a', loader(live(user('a'))));
    assert.equal(await cache.principal('s1', 'b', loader(live(user('a')))), undefined);
    await cache.principal('s2', 'c', loader({ user: user('c'), sessionExpiresAt: new Date(NOW + 1).toISOString() }));
    assert.equal((await cache.principal('s2', 'c', loader(undefined)))?.id, 'c');
    const ended = setup();
    await ended.cache.principal(
      's3',
      'd',
      ended.loader({ user: user('d'), sessionExpiresAt: new Date(NOW).toISOString() }),
    );
    assert.equal(await ended.cache.principal('s3', 'd', ended.loader(live(user('d')))), undefined);
  });

  it('hands out frozen entries, so no request can change what the next one sees', async () => {
    const { cache, loader } = setup();
    const first = await cache.principal('s1', 'a', loader(live(user('a'))));
    assert.ok(first && Object.isFrozen(first));
    const cached = await cache.principal('s1', 'a', loader(undefined));
    assert.ok(cached && Object.isFrozen(cached));
    assert.throws(() => {
      (cached as User).is_superuser = true;
    }, TypeError);
  });

  it('keeps at most maxEntries sessions, dropping the oldest', async () => {
    const { state, cache, loader } = setup(2);
    for (const s of ['s1', 's2', 's3']) await cache.principal(s, 'a', loader(live(user('a'))));
    assert.equal(state.loads, 3);
    await cache.principal('s3', 'a', loader(live(user('a'))));
    await cache.principal('s2', 'a', loader(live(user('a'))));
    assert.equal(state.loads, 3);
    await cache.principal('s1', 'a', loader(live(user('a'))));
    assert.equal(state.loads, 4);
  });
});
