import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { FastifyInstance } from 'fastify';
import { emptyTables, openTestApp, type TestApp } from './support/test-app.js';

const NO_USER = '01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a';

onEachDatabase('personas API', (tdb) => {
  let t: TestApp;
  let app: FastifyInstance;
  let userId: string;

  before(async () => {
    t = await openTestApp(tdb);
    app = t.app;
  });
  after(() => t.close());
  beforeEach(async () => {
    await emptyTables(t.database);
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'owner@example.com', password: 'password-1' },
    });
    userId = res.json().id;
  });

  const personas = () => `/api/v1/users/${userId}/personas`;

  it('creates, lists, reads, updates and deletes a persona', async () => {
    const created = await app.inject({
      method: 'POST',
      url: personas(),
      payload: {
        name: 'Work',
        relation_type: 'colleague',
        description: 'At the office',
        user_id: NO_USER,
        id: NO_USER,
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const p = created.json();
    assert.equal(p.user_id, userId, 'user_id comes from the path, not the body');
    assert.notEqual(p.id, NO_USER);
    assert.equal(p.status, 'active');
    assert.equal(created.headers.location, `/api/v1/users/${userId}/personas/${p.id}`);
    assert.deepEqual(Object.keys(p).sort(), [
      'created_at',
      'description',
      'id',
      'name',
      'relation_type',
      'status',
      'updated_at',
      'user_id',
    ]);

    await app.inject({ method: 'POST', url: personas(), payload: { name: 'Home', relation_type: 'family' } });
    const list = await app.inject(`${personas()}?limit=1`);
    assert.equal(list.statusCode, 200);
    assert.equal(list.json().total, 2);
    assert.equal(list.json().personas.length, 1);
    const next = await app.inject(`${personas()}?limit=1&after=${encodeURIComponent(list.json().next_cursor)}`);
    assert.equal(next.json().personas[0].name, 'Home');

    assert.deepEqual((await app.inject(`${personas()}/${p.id}`)).json(), p);
    const patched = await app.inject({
      method: 'PATCH',
      url: `${personas()}/${p.id}`,
      payload: { status: 'archived', description: null },
    });
    assert.equal(patched.statusCode, 200);
    assert.equal(patched.json().status, 'archived');
    assert.equal(patched.json().description, null);
    assert.equal(patched.json().name, 'Work');
    const put = await app.inject({ method: 'PUT', url: `${personas()}/${p.id}`, payload: { name: 'Office' } });
    assert.equal(put.json().name, 'Office');
    const clash = await app.inject({ method: 'PATCH', url: `${personas()}/${p.id}`, payload: { name: 'Home' } });
    assert.equal(clash.statusCode, 409);
    assert.deepEqual(clash.json(), { detail: 'This user already has a persona with this name' });

    const del = await app.inject({ method: 'DELETE', url: `${personas()}/${p.id}` });
    assert.equal(del.statusCode, 204);
    assert.equal((await app.inject(`${personas()}/${p.id}`)).statusCode, 404);
  });

  it('validates persona input and refuses a persona of a missing user', async () => {
    for (const payload of [
      { relation_type: 'x' },
      { name: '', relation_type: 'x' },
      { name: 'x'.repeat(129), relation_type: 'x' },
      { name: 'n', relation_type: 'x'.repeat(33) },
      { name: 'n', relation_type: 'x', description: 'x'.repeat(256) },
    ]) {
      const res = await app.inject({ method: 'POST', url: personas(), payload });
      assert.equal(res.statusCode, 422, JSON.stringify(payload));
      assert.equal(res.json().detail[0].loc[0], 'body');
    }
    const orphan = await app.inject({
      method: 'POST',
      url: `/api/v1/users/${NO_USER}/personas`,
      payload: { name: 'n', relation_type: 'x' },
    });
    assert.equal(orphan.statusCode, 404);
    assert.deepEqual(orphan.json(), { detail: 'User not found' });
    assert.equal((await app.inject(`/api/v1/users/${NO_USER}/personas`)).statusCode, 404);
    assert.equal((await app.inject(`${personas()}`)).json().total, 0);
  });

  it("answers 404 for a persona reached under another user's path, and changes nothing", async () => {
    const p = (
      await app.inject({ method: 'POST', url: personas(), payload: { name: 'Mine', relation_type: 'self' } })
    ).json();
    const other = (
      await app.inject({
        method: 'POST',
        url: '/api/v1/users',
        payload: { email: 'other@example.com', password: 'password-1' },
      })
    ).json();
    const foreign = `/api/v1/users/${other.id}/personas/${p.id}`;
    assert.equal((await app.inject(foreign)).statusCode, 404);
    assert.deepEqual((await app.inject(foreign)).json(), { detail: 'Persona not found' });
    assert.equal((await app.inject({ method: 'PATCH', url: foreign, payload: { name: 'Stolen' } })).statusCode, 404);
    assert.equal((await app.inject({ method: 'DELETE', url: foreign })).statusCode, 404);
    assert.equal((await app.inject(`${personas()}/${p.id}`)).json().name, 'Mine');
  });

  it('deletes personas together with their user', async () => {
    await app.inject({ method: 'POST', url: personas(), payload: { name: 'A', relation_type: 'x' } });
    await app.inject({ method: 'POST', url: personas(), payload: { name: 'B', relation_type: 'x' } });
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/users/${userId}` })).statusCode, 204);
    const left = await t.database.kysely
      .selectFrom('personas')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(left.n), 0);
  });

  it('creates a user with initial personas in one unit of work: all or nothing', async () => {
    const ok = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: {
        email: 'with@example.com',
        password: 'password-1',
        personas: [
          { name: 'Work', relation_type: 'colleague' },
          { name: 'Home', relation_type: 'family', status: 'hidden' },
        ],
      },
    });
    assert.equal(ok.statusCode, 201, ok.body);
    const list = (await app.inject(`/api/v1/users/${ok.json().id}/personas`)).json();
    assert.deepEqual(list.personas.map((p: any) => [p.name, p.status]).sort(), [
      ['Home', 'hidden'],
      ['Work', 'active'],
    ]);

    // The second persona repeats a name: the database refuses it after the user row was written, so the
    // unit of work must roll the user back too.
    const dup = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: {
        email: 'rollback@example.com',
        password: 'password-1',
        personas: [
          { name: 'Same', relation_type: 'x' },
          { name: 'Same', relation_type: 'y' },
        ],
      },
    });
    assert.equal(dup.statusCode, 409);
    assert.equal((await app.inject('/api/v1/users/email/rollback@example.com')).statusCode, 404, 'no user left behind');
    const invalid = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: {
        email: 'invalid@example.com',
        password: 'password-1',
        personas: [{ name: 'ok', relation_type: 'x' }, { name: '' }],
      },
    });
    assert.equal(invalid.statusCode, 422);
    assert.deepEqual(invalid.json().detail[0].loc.slice(0, 3), ['body', 'personas', 1]);
    assert.equal((await app.inject('/api/v1/users/email/invalid@example.com')).statusCode, 404);
  });
});
