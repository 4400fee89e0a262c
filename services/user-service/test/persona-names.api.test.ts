/**
 * One rule for persona names on every database: unique per user without regard to case or surrounding
 * spaces, and nothing else folded (accents stay distinct, which MariaDB's default collation would fold).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { emptyTables, openTestApp, type TestApp } from './support/test-app.js';

onEachDatabase('persona names', (tdb) => {
  let t: TestApp;
  let userId: string;
  before(async () => {
    t = await openTestApp(tdb);
  });
  after(() => t.close());
  beforeEach(async () => {
    await emptyTables(t.database);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'names@example.com', password: 'password-long' },
    });
    userId = res.json().id;
  });

  const create = (name: string, user = userId) =>
    t.app.inject({ method: 'POST', url: `/api/v1/users/${user}/personas`, payload: { name, relation_type: 'self' } });

  it('treats "Home", "home", "HOME" and " home " as one name, keeps the first spelling, and says 409', async () => {
    const first = await create('Home');
    assert.equal(first.statusCode, 201);
    assert.equal(first.json().name, 'Home');
    assert.equal(first.json().name_key, undefined, 'the key is not part of the API');
    for (const name of ['home', 'HOME', ' home ']) {
      const res = await create(name);
      assert.equal(res.statusCode, 409, `${name}: ${res.body}`);
      assert.deepEqual(res.json(), { detail: 'This user already has a persona with this name' });
    }
    // Accents are different letters everywhere; another user may use the same name.
    assert.equal((await create('Café')).statusCode, 201);
    assert.equal((await create('Cafe')).statusCode, 201);
    const other = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'other@example.com', password: 'password-long' },
    });
    assert.equal((await create('HOME', other.json().id)).statusCode, 201);
    const list = await t.app.inject(`/api/v1/users/${userId}/personas`);
    assert.deepEqual(
      list
        .json()
        .personas.map((p: { name: string }) => p.name)
        .sort(),
      ['Cafe', 'Café', 'Home'],
    );
  });

  it("applies the rule to renames: to another persona's name is 409, a persona's own name in new case is fine", async () => {
    const home = (await create('Home')).json();
    const work = (await create('Work')).json();
    const clash = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${userId}/personas/${work.id}`,
      payload: { name: 'HOME' },
    });
    assert.equal(clash.statusCode, 409);
    const recase = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${userId}/personas/${home.id}`,
      payload: { name: 'HOME' },
    });
    assert.equal(recase.statusCode, 200, recase.body);
    assert.equal(recase.json().name, 'HOME');
    assert.equal((await create('home')).statusCode, 409, 'the renamed persona still holds the name');
    assert.equal((await create('Work')).statusCode, 409, 'nothing changed on the refused rename');
  });

  it('migrates existing names that differ only by case without losing any, then holds the rule', async () => {
    await emptyTables(t.database);
    // Back to just before the migration that made names unique without regard to case (later ones go too).
    const applied = (await t.migrator.history()).filter((m) => m.appliedAt !== null).map((m) => m.name);
    await t.migrator.down(applied.length - applied.indexOf('20261123000000_persona_name_key'));
    try {
      const now = new Date().toISOString();
      const user = { id: '01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a', email: 'legacy@example.com' };
      const stamp = t.database.dialect.encodeTimestamp(now);
      const yes = t.database.dialect.encodeBoolean(true);
      const no = t.database.dialect.encodeBoolean(false);
      await t.database.kysely
        .insertInto('users')
        .values({
          ...user,
          hashed_password: 'x',
          is_active: yes,
          is_superuser: no,
          created_at: stamp,
          updated_at: stamp,
        })
        .execute();
      // MariaDB's old index already refused a second "home"; SQLite and PostgreSQL allowed it.
      const names = t.database.kind === 'mysql' ? ['Home'] : ['Home', 'home'];
      for (const [i, name] of names.entries()) {
        await t.database.kysely
          .insertInto('personas')
          .values({
            id: `01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f4${i}`,
            user_id: user.id,
            name,
            description: null,
            relation_type: 'self',
            status: 'active',
            created_at: stamp,
            updated_at: stamp,
          })
          .execute();
      }
      await t.migrator.up();
      // The way down dropped the api_keys table, and with it the key the test app signs its requests with.
      await t.reinstateApiKey();
      const list = await t.app.inject(`/api/v1/users/${user.id}/personas`);
      assert.deepEqual(
        list
          .json()
          .personas.map((p: { name: string }) => p.name)
          .sort(),
        [...names].sort(),
      );
      assert.equal((await create('HOME', user.id)).statusCode, 409);
    } finally {
      await emptyTables(t.database);
      await t.migrator.up();
    }
  });
});
