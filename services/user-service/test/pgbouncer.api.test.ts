/**
 * The service through PgBouncer in transaction pooling mode: a pgbouncer started by the test (4 server
 * connections) in front of a fresh database on the shared PostgreSQL server, DATABASE_URL pointing at it with
 * ?pgbouncer=true. Migrations, sign-up, login, bearer requests, user CRUD, search, logout, `migrate check`, and
 * parallel requests (more than the pooler's server connections). Each test checks on the pooler's admin console
 * (SHOW STATS) or the server's pg_stat_activity that the traffic went through PgBouncer.
 * Needs pgbouncer (apt-get install pgbouncer; as root it runs as postgres) and the shared PostgreSQL; without them
 * it reports itself skipped, except with CI=true.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  type PgBouncer,
  pgbouncerForNewDatabase,
  pgbouncerUnavailable,
  SERVER_URLS,
  serverReachable,
  withAdmin,
} from '@user-service/data/testing';
import { sql } from 'kysely';
import { usersTable } from '../src/users/user.table.js';
import { openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const reachable = await serverReachable('postgres');
const unavailable = (await pgbouncerUnavailable()) ?? (reachable === true ? undefined : reachable);
const POOL_SIZE = 4;

describe('users API through PgBouncer (transaction pooling)', { timeout: 120_000 }, () => {
  let bouncer: PgBouncer | undefined;
  let drop: (() => Promise<void>) | undefined;
  let t: TestApp | undefined;
  let dbName = '';
  let admin: Record<string, string> = {};

  const skipOrFail = (c: TestContext): boolean => {
    if (!unavailable) return false;
    if (inCi) throw new Error(`${unavailable}: CI=true requires the PgBouncer tests to run`);
    c.skip(unavailable);
    return true;
  };

  /** Transactions PgBouncer passed to the server during `work`. */
  const transactionsDuring = async (work: () => Promise<void>): Promise<number> => {
    const before = await bouncer!.totals();
    await work();
    return (await bouncer!.totals()).transactions - before.transactions;
  };

  before(async () => {
    if (unavailable) return;
    const pooled = await pgbouncerForNewDatabase('us_pgbouncer_api', POOL_SIZE);
    drop = pooled.close;
    bouncer = pooled.bouncer;
    dbName = pooled.database;
    // Migrated through the pooler too (openTestApp runs the service's migrations on this URL).
    t = await openTestApp({ kind: 'postgres', url: bouncer.url }, { defaultCredentials: false });
    admin = { 'x-api-key': t.apiKey };
  });

  after(async () => {
    await t?.close();
    await bouncer?.stop();
    await drop?.();
  });

  it('sign-up, login, bearer requests, user CRUD, search, logout', async (c) => {
    if (skipOrFail(c) || !t) return;
    const app = t.app;
    const passed = await transactionsDuring(async () => {
      const registered = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { email: 'grace@example.com', password: TEST_PASSWORD, username: 'grace', full_name: 'Grace H' },
      });
      assert.equal(registered.statusCode, 201, registered.body);
      const login = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'grace', password: TEST_PASSWORD },
      });
      assert.equal(login.statusCode, 200, login.body);
      const bearer = { authorization: `Bearer ${login.json().access_token}` };
      const me = await app.inject({ url: '/api/v1/auth/me', headers: bearer });
      assert.equal(me.statusCode, 200, me.body);
      assert.equal(me.json().email, 'grace@example.com');

      const created = await app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: admin,
        payload: { email: 'linus@example.com', password: TEST_PASSWORD, username: 'linus', full_name: 'Linus T' },
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = created.json().id as string;
      assert.equal((await app.inject({ url: `/api/v1/users/${id}`, headers: admin })).json().username, 'linus');
      const byEmail = await app.inject({ url: '/api/v1/users/email/linus@example.com', headers: admin });
      assert.equal(byEmail.json().id, id);
      const list = await app.inject({ url: '/api/v1/users?limit=10', headers: admin });
      assert.equal(list.statusCode, 200, list.body);
      const emails = (list.json().users as { email: string }[]).map((u) => u.email);
      assert.deepEqual(emails.sort(), ['grace@example.com', 'linus@example.com']);
      const search = await app.inject({ url: '/api/v1/users/search?q=LINUS', headers: admin });
      assert.equal(search.statusCode, 200, search.body);
      assert.deepEqual(
        search.json().users.map((u: { id: string }) => u.id),
        [id],
      );
      const patched = await app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${id}`,
        headers: admin,
        payload: { full_name: 'Linus Torvalds' },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal(patched.json().full_name, 'Linus Torvalds');
      const deleted = await app.inject({ method: 'DELETE', url: `/api/v1/users/${id}`, headers: admin });
      assert.equal(deleted.statusCode, 204, deleted.body);
      assert.equal((await app.inject({ url: `/api/v1/users/${id}`, headers: admin })).statusCode, 404);

      const logout = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer });
      assert.equal(logout.statusCode, 204, logout.body);
      assert.equal((await app.inject({ url: '/api/v1/auth/me', headers: bearer })).statusCode, 401);
    });
    assert.ok(passed >= 15, `only ${passed} transactions went through PgBouncer`);
  });

  it('60 parallel requests over 4 server connections', async (c) => {
    if (skipOrFail(c) || !t || !bouncer) return;
    const app = t.app;
    const pooler = bouncer;
    let peak = 0;
    let sawWaiting = false;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const backends = await withAdmin('postgres', SERVER_URLS.postgres, async (db) => {
          const { rows } = await sql<{ n: string }>`
            select count(*) as n from pg_stat_activity where datname = ${dbName}`.execute(db);
          return Number(rows[0]?.n);
        });
        peak = Math.max(peak, backends);
        if (Number((await pooler.pool()).cl_waiting) > 0) sawWaiting = true;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const passed = await transactionsDuring(async () => {
      const responses = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          i % 2 === 0
            ? app.inject({
                method: 'POST',
                url: '/api/v1/users',
                headers: admin,
                payload: { email: `par-${i}@example.com`, password: TEST_PASSWORD, username: `par${i}` },
              })
            : app.inject({ url: `/api/v1/users?limit=5&skip=${i}`, headers: admin }),
        ),
      );
      watching = false;
      await watcher;
      assert.deepEqual(
        responses.map((r, i) => `${i}:${r.statusCode}`).filter((s, i) => s !== `${i}:${i % 2 === 0 ? 201 : 200}`),
        [],
      );
    });
    assert.equal(await t.database.repository(usersTable).count({ email: { contains: 'par-' } }), 30);
    assert.ok(passed >= 60, `only ${passed} transactions went through PgBouncer`);
    assert.ok(peak >= 1 && peak <= POOL_SIZE, `the server saw ${peak} connections for a pool of ${POOL_SIZE}`);
    assert.ok(sawWaiting, 'no request ever waited for a server connection: the pooler did not multiplex');
  });

  it('migrate check through the pooler: nothing pending, no drift', async (c) => {
    if (skipOrFail(c) || !t) return;
    const migrator = t.migrator;
    const passed = await transactionsDuring(async () => {
      assert.deepEqual(await migrator.check(), { pending: [], drift: [] });
    });
    assert.ok(passed >= 2, `only ${passed} transactions went through PgBouncer`);
  });
});
