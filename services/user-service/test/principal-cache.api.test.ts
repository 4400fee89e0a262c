/**
 * The in-process principal cache (cache/local-principal-cache.ts, SQLite without Redis): a bearer request whose
 * session was checked before reads nothing, yet every change to the session or its user, made by this process
 * or by another connection to the same file (another worker, the CLI, a hand-written UPDATE), holds on the very
 * next request. "Another process" is a second Database on the same file: its own connection, as a process has.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { type Database, openDatabase, type QueryEvent } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import { UserService } from '../src/users/user.service.js';
import { emptyTables, openTestApp, type TestApp } from './support/test-app.js';

const reads: string[] = [];
const principalReads = () => reads.filter((sql) => sql.includes('session_principals')).length;

onEachDatabase(
  'principal cache',
  (tdb) => {
    let t: TestApp;
    let other: Database;
    let otherUsers: UserService;

    before(async () => {
      t = await openTestApp(tdb, { onQuery: (event: QueryEvent) => reads.push(event.sql) });
      other = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
      otherUsers = new UserService(other, t.hasher);
    });
    after(async () => {
      await other?.close();
      await t?.close();
    });
    beforeEach(() => emptyTables(t.database));

    const me = (headers: Record<string, string>) => t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers });

    it('answers a repeated bearer request without reading the session again', async () => {
      const alice = await t.signUp();
      assert.equal((await me(alice.headers)).statusCode, 200);
      const before = principalReads();
      for (let i = 0; i < 5; i++) {
        const res = await me(alice.headers);
        assert.equal(res.statusCode, 200);
        assert.equal(res.json().email, alice.user.email);
      }
      assert.equal(principalReads(), before);
    });

    it("keeps each session's own user apart", async () => {
      const alice = await t.signUp();
      const bob = await t.signUp();
      for (let i = 0; i < 3; i++) {
        assert.equal((await me(alice.headers)).json().id, alice.user.id);
        assert.equal((await me(bob.headers)).json().id, bob.user.id);
      }
    });

    it('refuses a token after a logout through this process, on the next request', async () => {
      const alice = await t.signUp();
      assert.equal((await me(alice.headers)).statusCode, 200);
      const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: alice.headers });
      assert.equal(out.statusCode, 204);
      assert.equal((await me(alice.headers)).statusCode, 401);
    });

    it('refuses a token after a deactivation by another process, on the next request', async () => {
      const alice = await t.signUp();
      assert.equal((await me(alice.headers)).statusCode, 200);
      await otherUsers.setActive(alice.user.id, false);
      assert.equal((await me(alice.headers)).statusCode, 401);
    });

    it('stops superuser rights after a demotion by another process, on the next request', async () => {
      await t.signUp({ superuser: true }); // a second superuser, so the demotion is allowed
      const root = await t.signUp({ superuser: true });
      const list = () => t.app.inject({ method: 'GET', url: '/api/v1/users?limit=1', headers: root.headers });
      assert.equal((await list()).statusCode, 200);
      await otherUsers.update(root.user.id, { is_superuser: false });
      assert.equal((await list()).statusCode, 403);
    });

    it('sees a session ended by a hand-written UPDATE on another connection (no service involved)', async () => {
      const alice = await t.signUp();
      assert.equal((await me(alice.headers)).statusCode, 200);
      await other.kysely
        .updateTable('sessions')
        .set({ revoked_at: new Date().toISOString(), revoked_reason: 'logout' })
        .where('user_id', '=', alice.user.id)
        .execute();
      assert.equal((await me(alice.headers)).statusCode, 401);
    });

    it('shows a name changed by another process on the next request', async () => {
      const alice = await t.signUp();
      assert.equal((await me(alice.headers)).json().full_name, null);
      await otherUsers.update(alice.user.id, { full_name: 'Alice Renamed' });
      assert.equal((await me(alice.headers)).json().full_name, 'Alice Renamed');
    });
  },
  // The cache needs a change stamp, which only SQLite has; elsewhere every request reads (other suites).
  ['sqlite'],
);

// Off: SQLite with PRINCIPAL_CACHE_SIZE=0, and the databases without a change stamp whatever the size.
onEachDatabase('no principal cache', (tdb) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(tdb, {
      onQuery: (event: QueryEvent) => reads.push(event.sql),
      ...(tdb.kind === 'sqlite' ? { principalCacheSize: 0 } : {}),
    });
  });
  after(() => t?.close());

  it('reads the session on every bearer request', async () => {
    const alice = await t.signUp();
    const before = principalReads();
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: alice.headers });
      assert.equal(res.statusCode, 200);
    }
    assert.equal(principalReads(), before + 3);
  });
});
