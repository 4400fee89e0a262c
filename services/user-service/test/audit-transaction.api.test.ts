// The audit log is written in the unit of work of the change it records: a change that rolls back leaves no
// event, and every committed change has its event, also under concurrency. On every database.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { auditEventsTable } from '../src/audit/audit-event.table.js';
import { recordAudit } from '../src/audit/audit-events.js';
import { UserService } from '../src/users/user.service.js';
import { emptyTables, openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

onEachDatabase('audit events in the change’s transaction', (tdb) => {
  let t: TestApp;

  before(async () => {
    t = await openTestApp(tdb);
  });
  after(() => t.close());
  beforeEach(() => emptyTables(t.database));

  const events = async (event: string) =>
    (await t.database.repository(auditEventsTable).list({ filters: { event }, limit: 1000 })).items;

  it('a creation that fails after its event was written leaves neither the user nor the event', async () => {
    const users = new UserService(t.database, t.hasher);
    // The lifecycle step runs after the audit insert, in the same unit of work: its failure rolls both back.
    users.setLifecycle({
      created: async () => {
        throw new Error('mail could not be queued');
      },
      emailChanged: async () => {},
      passwordChanged: async () => {},
      committed: () => {},
    });
    await assert.rejects(users.create({ email: 'rolled@example.com', password: TEST_PASSWORD }), /could not be queued/);
    assert.equal((await t.database.kysely.selectFrom('users').select('id').execute()).length, 0);
    assert.deepEqual(await events('user.created'), [], 'no event for a change that rolled back');
  });

  it('an event that cannot be written takes its change down with it', async () => {
    const users = new UserService(t.database, t.hasher);
    const user = await users.create({ email: 'kept@example.com', password: TEST_PASSWORD });
    users.setLifecycle({
      created: async () => {},
      // A second event whose detail names a credential is refused by recordAudit: the email change rolls back.
      emailChanged: async (uow, changed) => {
        await recordAudit(uow, undefined, { event: 'email.changed', target: changed.id, detail: { token: 'x' } });
      },
      passwordChanged: async () => {},
      committed: () => {},
    });
    await assert.rejects(users.update(user.id, { email: 'new@example.com' }), /looks like a credential/);
    assert.equal((await users.get(user.id)).email, 'kept@example.com', 'the change rolled back');
    assert.deepEqual(await events('email.changed'), [], 'and its event with it');
  });

  it('every acknowledged change has exactly one event, with parallel writers', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'busy@example.com', password: TEST_PASSWORD },
    });
    assert.equal(created.statusCode, 201);
    const id = created.json().id as string;
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        t.app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, payload: { full_name: `Name ${i}` } }),
      ),
    );
    const acknowledged = answers.filter((r) => r.statusCode === 200).length;
    for (const r of answers) assert.ok([200, 503].includes(r.statusCode), `${r.statusCode} ${r.body}`);
    assert.ok(acknowledged > 0);
    const updated = await events('user.updated');
    assert.equal(updated.length, acknowledged, 'one user.updated per acknowledged PATCH, none for a refused one');
    for (const event of updated) {
      assert.equal(event.target_user_id, id);
      assert.ok(event.actor_api_key_id, 'the API key that made the change is the actor');
      assert.deepEqual(JSON.parse(event.detail ?? '{}'), { fields: ['full_name'] });
    }
    assert.equal((await events('user.created')).length, 1);
  });
});
