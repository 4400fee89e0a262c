/**
 * Many clients writing at once, each to a user of its own, through the whole app on each database: every
 * request succeeds (no 503 from a deadlock, no 500), and each leaves exactly its rows. On MariaDB, 32 concurrent
 * creates used to deadlock (each creation voids the new user's verification tokens, then issues one: at InnoDB's
 * REPEATABLE READ the empty UPDATE locked the index gap the other transactions inserted into) and answered 503.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { auditEventsTable } from '../src/audit/audit-event.table.js';
import { accountTokensTable } from '../src/auth/account-token.table.js';
import { openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const API = '/api/v1';
const PARALLEL = 32;

onEachDatabase('concurrent writes to different users', (tdb) => {
  let t: TestApp;

  before(async () => {
    t = await openTestApp(tdb);
  });
  after(() => t.close());

  const tokensOf = async (userId: string) =>
    (await t.database.repository(accountTokensTable).list({ filters: { user_id: userId }, limit: 10 })).items;

  it(`${PARALLEL} creates at once all answer 201, each with its verification token and audit event`, async () => {
    const emails = Array.from({ length: PARALLEL }, (_, i) => `parallel-${i}-${Date.now()}@example.com`);
    const answers = await Promise.all(
      emails.map((email) =>
        t.app.inject({ method: 'POST', url: `${API}/users`, payload: { email, password: TEST_PASSWORD } }),
      ),
    );
    assert.deepEqual(
      answers.map((r) => r.statusCode),
      emails.map(() => 201),
      answers.find((r) => r.statusCode !== 201)?.body,
    );
    const ids = answers.map((r) => (r.json() as { id: string }).id);
    assert.equal(new Set(ids).size, PARALLEL);
    for (const id of ids) {
      const tokens = await tokensOf(id);
      assert.deepEqual(
        tokens.map((k) => k.kind),
        ['verify'],
        `user ${id}: one verification token`,
      );
      const events = await t.database
        .repository(auditEventsTable)
        .list({ filters: { target_user_id: id, event: 'user.created' }, limit: 10 });
      assert.equal(events.items.length, 1, `user ${id}: one user.created event`);
    }
  });

  it(`${PARALLEL} email changes at once, each of another user, all answer 200 and each reissues its token`, async () => {
    const created = await Promise.all(
      Array.from({ length: PARALLEL }, async (_, i) => {
        const res = await t.app.inject({
          method: 'POST',
          url: `${API}/users`,
          payload: { email: `before-${i}-${Date.now()}@example.com`, password: TEST_PASSWORD },
        });
        assert.equal(res.statusCode, 201, res.body);
        return (res.json() as { id: string }).id;
      }),
    );
    const answers = await Promise.all(
      created.map((id, i) =>
        t.app.inject({
          method: 'PATCH',
          url: `${API}/users/${id}`,
          payload: { email: `after-${i}-${Date.now()}@example.com`, full_name: `Changed ${i}` },
        }),
      ),
    );
    assert.deepEqual(
      answers.map((r) => r.statusCode),
      created.map(() => 200),
      answers.find((r) => r.statusCode !== 200)?.body,
    );
    for (const [i, id] of created.entries()) {
      const user = answers[i]?.json() as { email: string; full_name: string; is_verified: boolean };
      assert.match(user.email, new RegExp(`^after-${i}-`));
      assert.equal(user.full_name, `Changed ${i}`);
      // The first token (for the old address) was voided, a new one issued for the new address.
      const tokens = await tokensOf(id);
      assert.equal(tokens.length, 2, `user ${id}: two verification tokens`);
      assert.equal(tokens.filter((k) => k.used_at === null).length, 1, `user ${id}: one token still usable`);
      assert.equal(tokens.find((k) => k.used_at === null)?.email, user.email);
    }
  });
});
