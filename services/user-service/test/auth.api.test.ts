import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { usersTable } from '../src/users/user.table.js';
import { PASSLIB_BCRYPT } from './support/legacy-hashes.js';
import { emptyTables, openTestApp, type TestApp } from './support/test-app.js';

onEachDatabase('auth API', (tdb) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(tdb);
  });
  after(() => t.close());
  beforeEach(async () => {
    await emptyTables(t.database);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'ada@example.com', password: 'password-1', username: 'ada' },
    });
  });

  const login = (username: string, password: string) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });

  it('logs in by email or username (JSON or OAuth2 form) and returns a bearer token for /auth/me', async () => {
    const res = await login('ADA@example.com', 'password-1');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().token_type, 'bearer');
    const me = await t.app.inject({
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${res.json().access_token}` },
    });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().email, 'ada@example.com');
    assert.doesNotMatch(me.body, /argon2|hashed_password/);
    const form = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'username=ada&password=password-1&grant_type=password',
    });
    assert.equal(form.statusCode, 200, form.body);
  });

  it('refuses wrong passwords, unknown users, inactive users and bad tokens', async () => {
    const wrong = await login('ada@example.com', 'password-2');
    assert.equal(wrong.statusCode, 401);
    assert.deepEqual(wrong.json(), { detail: 'Incorrect username or password' });
    assert.equal(wrong.headers['www-authenticate'], 'Bearer');
    const unknown = await login('nobody@example.com', 'password-1');
    assert.equal(unknown.statusCode, 401);
    assert.deepEqual(unknown.json(), wrong.json(), 'unknown user and wrong password look the same');
    assert.equal((await t.app.inject('/api/v1/auth/me')).statusCode, 401);
    assert.equal(
      (await t.app.inject({ url: '/api/v1/auth/me', headers: { authorization: 'Bearer nonsense' } })).statusCode,
      401,
    );
    const id = (await t.app.inject('/api/v1/users/email/ada@example.com')).json().id;
    await t.app.inject({ method: 'POST', url: `/api/v1/users/${id}/deactivate` });
    assert.equal((await login('ada@example.com', 'password-1')).statusCode, 403);
  });

  it('changes the password only with the current one', async () => {
    const token = (await login('ada', 'password-1')).json().access_token;
    const headers = { authorization: `Bearer ${token}` };
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers,
      payload: { current_password: 'nope', new_password: 'password-2' },
    });
    assert.equal(bad.statusCode, 422);
    assert.deepEqual(bad.json().detail[0].loc, ['body', 'current_password']);
    const ok = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers,
      payload: { current_password: 'password-1', new_password: 'password-2' },
    });
    assert.equal(ok.statusCode, 204);
    assert.equal((await login('ada', 'password-1')).statusCode, 401);
    assert.equal((await login('ada', 'password-2')).statusCode, 200);
  });

  it('accepts a bcrypt hash imported from the Python services and upgrades it to argon2id on login', async () => {
    // A row as it arrives from the predecessor's users table: a passlib bcrypt hash.
    const imported = await t.database
      .repository(usersTable)
      .create({ email: 'legacy@example.com', hashed_password: PASSLIB_BCRYPT });
    const res = await login('legacy@example.com', 'secret-password-1');
    assert.equal(res.statusCode, 200, res.body);
    const row = await t.database.repository(usersTable).get(imported.id, { secrets: ['hashed_password'] });
    assert.match(row?.hashed_password ?? '', /^\$argon2id\$/, 'the hash was upgraded');
    assert.equal((await login('legacy@example.com', 'secret-password-1')).statusCode, 200, 'and still verifies');
    assert.equal((await login('legacy@example.com', 'secret-password-2')).statusCode, 401);
  });
});
