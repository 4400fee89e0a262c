/**
 * GET /users with `q` (the search of /users/search), `is_active` and `is_verified`, on every database: each
 * combination of a term, filters and a sort is walked page by page with the cursor and checked against a
 * brute-force match over the rows the test itself wrote (none missed, none twice, in the order one large page
 * gives), with the capped total of a search; cursors stay bound to the term they were issued for; the
 * contradiction active_only=true & is_active=false is a 422. On SQLite the walk is checked to go through the
 * FTS5 trigram tables (the path a rare term takes), not only the LIKE scan.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { openDatabase } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import type { LightMyRequestResponse } from 'fastify';
import { SEARCH_TOTAL_LIMIT, type User, UserService } from '../src/users/user.service.js';
import { usersTable } from '../src/users/user.table.js';
import { emptyTables, openTestApp, type TestApp } from './support/test-app.js';

const API = '/api/v1';

/** Name pieces with the literal wildcards % and _ in a few, and near-misses a wildcard would match. */
const NAMES = [
  'Ann Smith',
  'Annabel Lee',
  'Joanna Banner',
  'Hannah Arendt',
  'Rob_ert Doe',
  'Abbey Road',
  'Pct 100% Sure',
  'Pct 1000 Sure',
  'Grace Hopper',
  'Alan Turing',
  null,
];

type Params = Record<string, string | number | boolean>;

const query = (params: Params) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');

/** What the API's filters mean, computed in JS over the rows the test wrote. */
function matches(user: User, params: Params): boolean {
  const q = typeof params.q === 'string' ? params.q.trim().toLowerCase() : '';
  if (q && ![user.full_name, user.username, user.email].some((v) => v?.toLowerCase().includes(q))) return false;
  if ((params.active_only === true || params.is_active === true) && !user.is_active) return false;
  if (params.is_active === false && user.is_active) return false;
  if (params.is_verified !== undefined && user.is_verified !== params.is_verified) return false;
  if (params.is_superuser !== undefined && user.is_superuser !== params.is_superuser) return false;
  return true;
}

onEachDatabase('user list filters', (tdb) => {
  let t: TestApp;
  let users: User[];

  const get = async (url: string): Promise<LightMyRequestResponse> => t.app.inject({ method: 'GET', url });
  const list = async (params: Params) => {
    const res = await get(`${API}/users?${query(params)}`);
    assert.equal(res.statusCode, 200, `${query(params)}: ${res.body}`);
    return res.json() as {
      users: User[];
      total: number;
      total_capped?: boolean;
      next_cursor: string | null;
    };
  };

  /**
   * Walks every page of `params` (limit 7) with the cursor, each next page asked with the same filters and sort
   * (as the console asks), and checks the walk against the brute-force match and against one page of 100.
   */
  async function walk(params: Params): Promise<string[]> {
    const what = query(params);
    const expected = users.filter((u) => matches(u, params)).map((u) => u.id);
    const searched = typeof params.q === 'string' && params.q.trim() !== '';
    const total = searched ? Math.min(expected.length, SEARCH_TOTAL_LIMIT) : expected.length;
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page = await list({ ...params, limit: 7, ...(after ? { after } : {}) });
      assert.ok(page.users.length <= 7, what);
      assert.equal(page.total, total, `${what}: total on page ${pages}`);
      assert.equal(page.total_capped, searched ? expected.length >= SEARCH_TOTAL_LIMIT : undefined, what);
      for (const user of page.users) assert.ok(matches(user, params), `${what}: ${user.email} does not match`);
      seen.push(...page.users.map((u) => u.id));
      after = page.next_cursor;
      assert.ok(++pages <= Math.ceil(expected.length / 7) + 1, `${what}: more pages than matches`);
    } while (after);
    assert.equal(new Set(seen).size, seen.length, `${what}: a user came twice`);
    assert.deepEqual([...seen].sort(), [...expected].sort(), `${what}: the walk missed or added users`);
    if (expected.length <= 100) {
      // The database's own order (its collation, nulls last): the walk keeps it across page boundaries.
      const one = await list({ ...params, limit: 100 });
      assert.deepEqual(
        seen,
        one.users.map((u) => u.id),
        `${what}: cursor pages in the order of one page`,
      );
    }
    return seen;
  }

  before(async () => {
    t = await openTestApp(tdb);
    await emptyTables(t.database);
    const now = Date.now();
    // 130 users: a broad term (example) matches more than SEARCH_TOTAL_LIMIT; every other term fewer. Several
    // share a created_at, so the keyset's tie-break on id is walked too.
    const rows = Array.from({ length: 130 }, (_, i) => {
      const name = NAMES[i % NAMES.length] ?? null;
      const slug = (name ?? 'nameless').toLowerCase().replace(/[^a-z0-9_]+/g, '.');
      const verified = i % 3 === 0;
      return {
        email: `${slug}.${i}@${i % 8 === 0 ? 'corp.test' : 'example.com'}`,
        username: i % 2 === 0 ? `${slug.replace(/[^a-z0-9_]/g, '')}_${i}` : null,
        full_name: name,
        hashed_password: 'x',
        is_active: i % 5 !== 0,
        is_superuser: i % 11 === 0,
        is_verified: verified,
        verified_at: verified ? new Date(now).toISOString() : null,
        created_at: new Date(now - Math.floor(i / 3) * 1000).toISOString(),
      };
    });
    users = await t.database.repository(usersTable).createMany(rows);
    assert.equal(users.length, 130);
  });
  after(() => t.close());

  it('walks q + filters + sort with cursor pages: every match once, nothing else, capped total', async () => {
    const terms = ['ann', 'ANN', 'example', 'corp', 'b_e', '_', '%', '0%', 'hopper', 'zzz', 'a'];
    const filters: Params[] = [
      {},
      { is_active: false },
      { is_active: true, is_verified: false },
      { active_only: true, is_verified: true, is_superuser: false },
    ];
    const sorts = ['id', '-created_at', 'email', '-email', 'full_name', '-username', 'created_at:asc'];
    let n = 0;
    const sizes: number[] = [];
    for (const q of terms) {
      for (const filter of filters) {
        sizes.push((await walk({ q, ...filter, sort: sorts[n++ % sorts.length] as string })).length);
      }
    }
    // Every sort on one term with many matches.
    for (const sort of sorts) await walk({ q: 'example', sort });
    // The data exercise what the test claims: empty results, small ones, more than a page, past the cap.
    assert.ok(sizes.includes(0));
    assert.ok(sizes.some((s) => s > 7 && s < 100));
    assert.ok(
      users.filter((u) => matches(u, { q: 'example' })).length > SEARCH_TOTAL_LIMIT,
      'example is a capped search',
    );
  });

  it('takes % and _ literally', async () => {
    const emails = async (q: string) => (await list({ q, limit: 100 })).users.map((u) => u.email);
    const pct = await emails('0%');
    assert.ok(pct.length > 0);
    assert.ok(
      pct.every((e) => e.startsWith('pct.100.sure')),
      pct.join(),
    );
    // As a wildcard, "b_e" would match "Abbey Road" (bbe) too.
    const under = await emails('b_e');
    assert.ok(under.length > 0);
    assert.ok(
      under.every((e) => e.startsWith('rob_ert')),
      under.join(),
    );
    assert.deepEqual(await emails('b%y'), [], 'b%y matches no name literally ("Abbey" only as a wildcard)');
  });

  it('searches as /users/search does: the same users for the same term', async () => {
    for (const q of ['ann', 'ROB_', '100%', 'corp']) {
      const searched = await get(`${API}/users/search?q=${encodeURIComponent(q)}&limit=100`);
      assert.equal(searched.statusCode, 200, searched.body);
      const listed = await list({ q, limit: 100 });
      assert.deepEqual(
        listed.users.map((u) => u.id).sort(),
        (searched.json().users as User[]).map((u) => u.id).sort(),
        q,
      );
      assert.equal(listed.total, searched.json().total, q);
      assert.equal(listed.total_capped, searched.json().total_capped, q);
    }
  });

  it('keeps cursors bound to their term and filters, and authenticated', async () => {
    const first = await list({ q: 'ann', limit: 2 });
    assert.ok(first.next_cursor);
    const cursor = encodeURIComponent(first.next_cursor);
    for (const other of ['q=anna', 'q=ann&is_active=true', 'is_active=true', '']) {
      const res = await get(`${API}/users?${other}&limit=2&after=${cursor}`);
      assert.equal(res.statusCode, 422, `${other}: ${res.body}`);
      assert.deepEqual(res.json().detail[0].loc, ['query', 'after'], other);
    }
    // The term is trimmed before it is matched (as search trims it): surrounding spaces are the same term.
    const spaced = await get(`${API}/users?q=%20ann%20&limit=2&after=${cursor}`);
    assert.equal(spaced.statusCode, 200, spaced.body);
    const same = await get(`${API}/users?q=ann&limit=2&after=${cursor}`);
    assert.equal(same.statusCode, 200, same.body);
    const [body = '', mac = ''] = first.next_cursor.split('.');
    const flipped = `${body}.${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}`;
    const forged = await get(`${API}/users?q=ann&limit=2&after=${encodeURIComponent(flipped)}`);
    assert.equal(forged.statusCode, 422, forged.body);
    assert.deepEqual(forged.json().detail[0].loc, ['query', 'after']);
  });

  it('refuses a cursor with a sort other than its own, and continues in its own order without one', async () => {
    const whole = await list({ sort: 'full_name', limit: 100 });
    const first = await list({ sort: 'full_name', limit: 3 });
    assert.ok(first.next_cursor);
    const cursor = encodeURIComponent(first.next_cursor);
    for (const other of ['username', '-full_name', 'id']) {
      const res = await get(`${API}/users?sort=${other}&limit=3&after=${cursor}`);
      assert.equal(res.statusCode, 422, `sort=${other}: ${res.body}`);
      assert.deepEqual(res.json().detail[0].loc, ['query', 'after'], other);
    }
    const ids = (page: { users: User[] }) => page.users.map((u) => u.id);
    for (const sort of ['&sort=full_name', '']) {
      const next = await get(`${API}/users?limit=3&after=${cursor}${sort}`);
      assert.equal(next.statusCode, 200, next.body);
      assert.deepEqual(ids(next.json()), ids(whole).slice(3, 6), `after the cursor${sort}`);
    }
  });

  it('filters by is_active (a deactivated user is found with false) and is_verified', async () => {
    const target = users.find((u) => u.is_active && (u.full_name ?? '').startsWith('Grace')) as User;
    const off = await t.app.inject({ method: 'POST', url: `${API}/users/${target.id}/deactivate` });
    assert.equal(off.statusCode, 200, off.body);
    const index = users.findIndex((u) => u.id === target.id);
    users[index] = off.json();
    try {
      const inactive = (await list({ is_active: false, limit: 100 })).users.map((u) => u.id);
      assert.ok(inactive.includes(target.id), 'the deactivated user is listed with is_active=false');
      assert.deepEqual(
        inactive.sort(),
        users
          .filter((u) => !u.is_active)
          .map((u) => u.id)
          .sort(),
      );
      assert.ok(!(await list({ is_active: true, limit: 100 })).users.some((u) => u.id === target.id));
      assert.ok((await list({ q: 'hopper', is_active: false })).users.some((u) => u.id === target.id));
      for (const is_verified of [true, false]) {
        const page = await list({ is_verified, limit: 100 });
        const want = users.filter((u) => u.is_verified === is_verified).map((u) => u.id);
        assert.equal(page.total, want.length, `is_verified=${is_verified}`);
        assert.deepEqual(page.users.map((u) => u.id).sort(), want.sort(), `is_verified=${is_verified}`);
        assert.equal(page.total_capped, undefined, 'no search, an exact total');
      }
      await walk({ is_active: false, is_verified: true, sort: '-email' });
    } finally {
      const on = await t.app.inject({ method: 'POST', url: `${API}/users/${target.id}/activate` });
      assert.equal(on.statusCode, 200, on.body);
      users[index] = on.json();
    }
  });

  it('answers active_only=true with is_active=false with a 422 on is_active, and bad q values with 422', async () => {
    const res = await get(`${API}/users?active_only=true&is_active=false`);
    assert.equal(res.statusCode, 422, res.body);
    const [detail] = res.json().detail;
    assert.deepEqual(detail.loc, ['query', 'is_active']);
    assert.equal(detail.type, 'value_error');
    assert.match(detail.msg, /active_only/);
    assert.equal((await get(`${API}/users?active_only=true&is_active=true`)).statusCode, 200);
    for (const [bad, loc] of [
      ['q=', 'q'],
      [`q=${'a'.repeat(256)}`, 'q'],
      ['is_active=maybe', 'is_active'],
      ['is_verified=2', 'is_verified'],
    ] as const) {
      const r = await get(`${API}/users?${bad}`);
      assert.equal(r.statusCode, 422, bad);
      assert.deepEqual(r.json().detail[0].loc, ['query', loc], bad);
    }
    assert.equal((await get(`${API}/users?q=${'a'.repeat(255)}`)).statusCode, 200, 'the longest q');
  });

  it('ignores a q of only spaces: the list as without q, with its exact total', async () => {
    const blank = await list({ q: '   ', limit: 5 });
    const plain = await list({ limit: 5 });
    assert.equal(blank.total, users.length);
    assert.equal(blank.total_capped, undefined);
    assert.deepEqual(
      blank.users.map((u) => u.id),
      plain.users.map((u) => u.id),
    );
  });

  if (tdb.kind === 'sqlite') {
    it('pages a rare term through the FTS5 trigram tables, cursor pages included', async () => {
      const statements: string[] = [];
      const observed = await openDatabase(requireUrl(tdb), {
        connectAttempts: 1,
        onQuery: (event) => statements.push(event.sql),
      });
      try {
        const service = new UserService(observed, t.hasher);
        const seen: string[] = [];
        let after: string | undefined;
        do {
          statements.length = 0;
          const page = await service.list({
            skip: 0,
            limit: 3,
            q: 'hannah',
            isActive: true,
            sort: { column: 'email', direction: 'desc' },
            ...(after ? { after } : {}),
          });
          const select = statements.find((s) => s.startsWith('select') && s.includes(' like '));
          assert.ok(select, statements.join('\n'));
          for (const index of ['ix_users_full_name_trgm', 'ix_users_username_trgm', 'ix_users_email_trgm']) {
            assert.match(select, new RegExp(index), 'the page reads its candidates from the FTS tables');
          }
          seen.push(...page.users.map((u) => u.id));
          after = page.next_cursor ?? undefined;
        } while (after);
        const want = users.filter((u) => matches(u, { q: 'hannah', is_active: true })).map((u) => u.id);
        assert.ok(want.length > 3, 'more than one page');
        assert.deepEqual(seen.sort(), want.sort());
      } finally {
        await observed.close();
      }
    });
  }
});
