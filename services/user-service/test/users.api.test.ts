import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.js';
import { SEARCH_TOTAL_LIMIT } from '../src/users/user.service.js';
import { usersTable } from '../src/users/user.table.js';
import { emptyTables, openTestApp, type TestApp } from './support/test-app.js';

const HASH_PATTERN = /\$argon2|\$2[aby]\$|hashed_password/;

/** Every response body in these tests passes through here: none may ever contain a password hash. */
function body(res: LightMyRequestResponse): any {
  assert.doesNotMatch(res.body, HASH_PATTERN, 'a response leaked a password hash');
  return res.body ? res.json() : undefined;
}

onEachDatabase('users API', (tdb) => {
  let t: TestApp;
  let app: FastifyInstance;
  const create = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/v1/users', payload });

  before(async () => {
    t = await openTestApp(tdb);
    app = t.app;
  });
  after(() => t.close());
  beforeEach(() => emptyTables(t.database));

  it('creates a user: 201, Location, normalised email, no hash, protected fields ignored', async () => {
    const res = await create({
      email: 'Ada@Example.COM',
      password: 'correct horse',
      full_name: 'Ada Lovelace',
      username: 'Ada.L',
      is_superuser: true,
      is_active: false,
      id: '00000000-0000-7000-8000-000000000000',
      hashed_password: 'x',
      created_at: '2000-01-01T00:00:00Z',
    });
    assert.equal(res.statusCode, 201, res.body);
    const user = body(res);
    assert.equal(res.headers.location, `/api/v1/users/${user.id}`);
    assert.match(user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'UUIDv7');
    assert.notEqual(user.id, '00000000-0000-7000-8000-000000000000');
    assert.equal(user.email, 'ada@example.com');
    assert.equal(user.username, 'ada.l');
    assert.equal(user.is_superuser, false);
    assert.equal(user.is_active, true);
    assert.notEqual(user.created_at, '2000-01-01T00:00:00.000Z');
    assert.deepEqual(Object.keys(user).sort(), [
      'created_at',
      'email',
      'full_name',
      'id',
      'is_active',
      'is_superuser',
      'is_verified',
      'updated_at',
      'username',
      'verified_at',
    ]);
    assert.equal(user.is_verified, false, 'a new user has not verified their email');
    assert.equal(user.verified_at, null);
    const stored = await t.database.kysely.selectFrom('users').select('hashed_password').executeTakeFirstOrThrow();
    assert.match(String(stored.hashed_password), /^\$argon2id\$/);
    const slash = await app.inject({
      method: 'POST',
      url: '/api/v1/users/',
      payload: { email: 'b@example.com', password: 'password-1' },
    });
    assert.equal(slash.statusCode, 201, 'the trailing-slash path works too');
  });

  it('refuses duplicates by email (any case) and by username with 409 naming which', async () => {
    assert.equal(
      (await create({ email: 'dup@example.com', password: 'password-1', username: 'dupe' })).statusCode,
      201,
    );
    const byEmail = await create({ email: 'DUP@example.com', password: 'password-1' });
    assert.equal(byEmail.statusCode, 409);
    assert.deepEqual(body(byEmail), { detail: 'A user with this email already exists' });
    const byUsername = await create({ email: 'other@example.com', password: 'password-1', username: 'DUPE' });
    assert.equal(byUsername.statusCode, 409);
    assert.deepEqual(body(byUsername), { detail: 'A user with this username already exists' });
    assert.equal(body(await app.inject('/api/v1/users/count')).count, 1);
  });

  it('gives exactly one 201 for eight simultaneous creates of one email', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => create({ email: 'race@example.com', password: `password-${i}` })),
    );
    const codes = results.map((r) => r.statusCode).sort();
    assert.deepEqual(codes, [201, 409, 409, 409, 409, 409, 409, 409]);
    assert.equal(body(await app.inject('/api/v1/users/count')).count, 1);
  });

  it('validates input with FastAPI-shaped 422s and writes nothing', async () => {
    const cases: [Record<string, unknown>, (string | number)[], string][] = [
      [{ password: 'password-1' }, ['body', 'email'], 'missing'],
      [{ email: 'not-an-email', password: 'password-1' }, ['body', 'email'], 'value_error'],
      [{ email: 'a@example.com', password: 'short' }, ['body', 'password'], 'string_too_short'],
      [{ email: 'a@example.com', password: 'x'.repeat(129) }, ['body', 'password'], 'string_too_long'],
      [
        { email: 'a@example.com', password: 'password-1', username: 'a b' },
        ['body', 'username'],
        'string_pattern_mismatch',
      ],
      [{ email: 'a@example.com', password: 'password-1', username: 'ab' }, ['body', 'username'], 'string_too_short'],
      [
        { email: 'a@example.com', password: 'password-1', full_name: 'x'.repeat(256) },
        ['body', 'full_name'],
        'string_too_long',
      ],
    ];
    for (const [payload, loc, type] of cases) {
      const res = await create(payload);
      assert.equal(res.statusCode, 422, JSON.stringify(payload));
      const detail = body(res).detail;
      assert.ok(Array.isArray(detail) && detail.length >= 1);
      assert.deepEqual(detail[0].loc, loc, JSON.stringify(detail));
      assert.equal(detail[0].type, type);
      assert.equal(typeof detail[0].msg, 'string');
    }
    assert.equal(body(await app.inject('/api/v1/users/count')).count, 0);
  });

  it('finds users by id, email (any case) and username, and answers 404 / 422', async () => {
    const user = body(await create({ email: 'find@example.com', password: 'password-1', username: 'finder' }));
    assert.deepEqual(body(await app.inject(`/api/v1/users/${user.id}`)), user);
    assert.deepEqual(body(await app.inject('/api/v1/users/email/FIND@example.com')), user);
    assert.deepEqual(body(await app.inject('/api/v1/users/by_username/Finder')), user);
    const missing = await app.inject('/api/v1/users/01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a');
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(body(missing), { detail: 'User not found' });
    assert.equal((await app.inject('/api/v1/users/email/nobody@example.com')).statusCode, 404);
    assert.equal((await app.inject('/api/v1/users/by_username/nobody')).statusCode, 404);
    const malformed = await app.inject('/api/v1/users/not-a-uuid');
    assert.equal(malformed.statusCode, 422);
    assert.deepEqual(body(malformed).detail[0].loc, ['path', 'id']);
    assert.equal((await app.inject({ method: 'HEAD', url: `/api/v1/users/${user.id}` })).statusCode, 200);
    assert.equal(
      (await app.inject({ method: 'HEAD', url: '/api/v1/users/01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a' })).statusCode,
      404,
    );
  });

  it('lists with skip/limit, filters, sort and cursor paging', async () => {
    const made: any[] = [];
    for (let i = 0; i < 7; i++) {
      made.push(body(await create({ email: `u${i}@example.com`, password: 'password-1', full_name: `User ${6 - i}` })));
    }
    const ids = made.map((u) => u.id);
    await app.inject({ method: 'POST', url: `/api/v1/users/${ids[1]}/deactivate` });
    await t.database.repository(usersTable).update(ids[2], { is_superuser: true });

    const page = body(await app.inject('/api/v1/users?skip=2&limit=3'));
    assert.equal(page.total, 7);
    assert.equal(page.skip, 2);
    assert.equal(page.limit, 3);
    assert.deepEqual(
      page.users.map((u: any) => u.id),
      ids.slice(2, 5),
      'default order is creation order',
    );
    const active = body(await app.inject('/api/v1/users?active_only=true&limit=100'));
    assert.equal(active.total, 6);
    assert.ok(!active.users.some((u: any) => u.id === ids[1]));
    const supers = body(await app.inject('/api/v1/users?is_superuser=true'));
    assert.deepEqual(
      supers.users.map((u: any) => u.id),
      [ids[2]],
    );
    const since = body(await app.inject(`/api/v1/users?created_after=${encodeURIComponent(made[4].created_at)}`));
    assert.ok(since.users.every((u: any) => u.created_at > made[4].created_at));
    const byName = body(await app.inject('/api/v1/users?sort=full_name&limit=3'));
    assert.deepEqual(
      byName.users.map((u: any) => u.full_name),
      ['User 0', 'User 1', 'User 2'],
    );
    const byNameDesc = body(await app.inject('/api/v1/users?sort=-full_name&limit=2'));
    assert.deepEqual(
      byNameDesc.users.map((u: any) => u.full_name),
      ['User 6', 'User 5'],
    );

    const seen: string[] = [];
    let url = '/api/v1/users?limit=3&sort=created_at:desc';
    for (;;) {
      const p = body(await app.inject(url));
      seen.push(...p.users.map((u: any) => u.id));
      if (!p.next_cursor) break;
      url = `/api/v1/users?limit=3&after=${encodeURIComponent(p.next_cursor)}`;
    }
    assert.deepEqual(seen, [...ids].reverse(), 'cursor pages cover every user once, in order');

    for (const bad of [
      'limit=0',
      'limit=101',
      'skip=-1',
      'sort=hashed_password',
      'created_after=yesterday',
      'active_only=maybe',
    ]) {
      const res = await app.inject(`/api/v1/users?${bad}`);
      assert.equal(res.statusCode, 422, bad);
      assert.equal(body(res).detail[0].loc[0], 'query', bad);
    }
    const tampered = await app.inject('/api/v1/users?after=abc.def');
    assert.equal(tampered.statusCode, 422);
    assert.deepEqual(body(tampered).detail[0].loc, ['query', 'after']);
  });

  it('searches full name, username and email without regard to case; % and _ are literal', async () => {
    await create({
      email: 'grace@navy.mil',
      password: 'password-1',
      full_name: 'Grace Hopper',
      username: 'amazing_grace',
    });
    await create({ email: 'alan@example.com', password: 'password-1', full_name: 'Alan 100% Turing' });
    await create({ email: 'edsger@example.com', password: 'password-1', full_name: 'Edsger Dijkstra' });
    const q = async (term: string) =>
      body(await app.inject(`/api/v1/users/search?q=${encodeURIComponent(term)}`))
        .users.map((u: any) => u.email)
        .sort();
    assert.deepEqual(await q('HOPPER'), ['grace@navy.mil']);
    assert.deepEqual(await q('navy'), ['grace@navy.mil']);
    assert.deepEqual(await q('ing_gr'), ['grace@navy.mil']);
    assert.deepEqual(await q('_'), ['grace@navy.mil']);
    assert.deepEqual(await q('%'), ['alan@example.com']);
    assert.deepEqual(await q('example'), ['alan@example.com', 'edsger@example.com']);
    assert.deepEqual(await q('zzz'), []);
    const one = body(await app.inject('/api/v1/users/search?q=hopper'));
    assert.equal(one.total, 1);
    assert.equal(one.total_capped, false);
    // The total of a short page (taken from the page itself) and of a page past the end (counted) agree.
    const last = body(await app.inject('/api/v1/users/search?q=example&skip=1&limit=5'));
    assert.deepEqual([last.users.length, last.total, last.total_capped], [1, 2, false]);
    const past = body(await app.inject('/api/v1/users/search?q=example&skip=5&limit=5'));
    assert.deepEqual([past.users.length, past.total, past.total_capped], [0, 2, false]);
    // A broad match is counted only up to SEARCH_TOTAL_LIMIT.
    await t.database.repository(usersTable).createMany(
      Array.from({ length: SEARCH_TOTAL_LIMIT + 5 }, (_, i) => ({
        email: `bulk${i}@example.com`,
        hashed_password: 'x',
      })),
    );
    const broad = body(await app.inject('/api/v1/users/search?q=bulk&limit=5'));
    assert.equal(broad.total, SEARCH_TOTAL_LIMIT);
    assert.equal(broad.total_capped, true);
    assert.equal(broad.users.length, 5);
    // A short last page past the cap still reports the capped count, as every page of this search does.
    const tail = body(await app.inject(`/api/v1/users/search?q=bulk&skip=${SEARCH_TOTAL_LIMIT}&limit=10`));
    assert.deepEqual([tail.users.length, tail.total, tail.total_capped], [5, SEARCH_TOTAL_LIMIT, true]);
    assert.equal((await app.inject('/api/v1/users/search?q=')).statusCode, 422);
    assert.equal((await app.inject('/api/v1/users/search')).statusCode, 422);
  });

  it('updates with PUT and PATCH: partial, re-hashed password, conflicts, no mass assignment', async () => {
    const a = body(await create({ email: 'a@example.com', password: 'password-1', username: 'alpha' }));
    await create({ email: 'b@example.com', password: 'password-1', username: 'bravo' });
    const before = await t.database.kysely
      .selectFrom('users')
      .select('hashed_password')
      .where('id', '=', a.id)
      .executeTakeFirstOrThrow();
    const patched = await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${a.id}`,
      payload: {
        full_name: 'Alpha One',
        password: 'new-password-1',
        // is_superuser is no longer ignored here: only a superuser may send it (access-policy.api.test.ts).
        id: 'x',
        created_at: '2000-01-01T00:00:00Z',
      },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const p = body(patched);
    assert.equal(p.full_name, 'Alpha One');
    assert.equal(p.username, 'alpha');
    assert.equal(p.is_superuser, false);
    assert.equal(p.id, a.id);
    assert.equal(p.created_at, a.created_at);
    const after = await t.database.kysely
      .selectFrom('users')
      .select('hashed_password')
      .where('id', '=', a.id)
      .executeTakeFirstOrThrow();
    assert.notEqual(after.hashed_password, before.hashed_password);
    assert.ok((await t.hasher.verify('new-password-1', String(after.hashed_password))).ok);
    const put = await app.inject({
      method: 'PUT',
      url: `/api/v1/users/${a.id}`,
      payload: { email: 'A2@Example.com', full_name: null },
    });
    assert.equal(put.statusCode, 200);
    assert.equal(body(put).email, 'a2@example.com');
    assert.equal(body(put).full_name, null);
    const clash = await app.inject({ method: 'PATCH', url: `/api/v1/users/${a.id}`, payload: { username: 'BRAVO' } });
    assert.equal(clash.statusCode, 409);
    assert.equal(body(await app.inject(`/api/v1/users/${a.id}`)).username, 'alpha', 'a refused update changes nothing');
    const clashEmail = await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${a.id}`,
      payload: { email: 'b@example.com' },
    });
    assert.equal(clashEmail.statusCode, 409);
    const missing = await app.inject({
      method: 'PATCH',
      url: '/api/v1/users/01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a',
      payload: { full_name: 'x' },
    });
    assert.equal(missing.statusCode, 404);
    const invalid = await app.inject({ method: 'PATCH', url: `/api/v1/users/${a.id}`, payload: { email: 'nope' } });
    assert.equal(invalid.statusCode, 422);
  });

  it('activates and deactivates, counts, and deletes with 204 then 404', async () => {
    const u = body(await create({ email: 'act@example.com', password: 'password-1' }));
    await create({ email: 'other@example.com', password: 'password-1' });
    const off = await app.inject({ method: 'POST', url: `/api/v1/users/${u.id}/deactivate` });
    assert.equal(off.statusCode, 200);
    assert.equal(body(off).is_active, false);
    assert.deepEqual(body(await app.inject('/api/v1/users/count?active_only=true')), { count: 1 });
    assert.deepEqual(body(await app.inject('/api/v1/users/count')), { count: 2 });
    const on = await app.inject({ method: 'POST', url: `/api/v1/users/${u.id}/activate` });
    assert.equal(body(on).is_active, true);
    assert.equal(
      (await app.inject({ method: 'POST', url: '/api/v1/users/01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a/activate' }))
        .statusCode,
      404,
    );
    const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}` });
    assert.equal(del.statusCode, 204);
    assert.equal(del.body, '');
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}` })).statusCode, 404);
    assert.equal((await app.inject(`/api/v1/users/${u.id}`)).statusCode, 404);
  });

  it("serves total from a short-lived cache that this process's own writes clear", async () => {
    const cached = await buildApp({
      database: t.database,
      migrator: t.migrator,
      hasher: t.hasher,
      tokenSecret: 'x'.repeat(32),
      totalsTtlMs: 60_000,
      // This app is about the total cache; the access check has its own suites.
      access: { authRequired: false },
    });
    try {
      const total = async () => body(await cached.inject('/api/v1/users?limit=1')).total;
      assert.equal(await total(), 0);
      await cached.inject({
        method: 'POST',
        url: '/api/v1/users',
        payload: { email: 'mine@example.com', password: 'password-1' },
      });
      assert.equal(await total(), 1, 'own write is visible at once');
      // A write by another process (here: straight to the database) shows once the cached total expires.
      await t.database.repository(usersTable).create({ email: 'elsewhere@example.com', hashed_password: 'x' });
      assert.equal(await total(), 1);
      assert.equal(
        body(await cached.inject('/api/v1/users?limit=5')).users.length,
        2,
        'the rows themselves are never cached',
      );
    } finally {
      await cached.close();
    }
  });
});
