import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { usersTable } from '../src/users/user.table.js';
import { PASSLIB_BCRYPT } from './support/legacy-hashes.js';
import { emptyTables, openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const PASSWORD = TEST_PASSWORD;
const NEW_PASSWORD = 'Quartz-Meadow-58-kite';

onEachDatabase('auth API', (tdb) => {
  let t: TestApp;
  before(async () => {
    // Anonymous unless a request says otherwise; `admin` carries the all-scopes key where one is needed.
    t = await openTestApp(tdb, { defaultCredentials: false });
    admin = { 'x-api-key': t.apiKey };
  });
  after(() => t.close());
  let admin: Record<string, string>;
  beforeEach(async () => {
    await emptyTables(t.database);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: admin,
      payload: { email: 'ada@example.com', password: PASSWORD, username: 'ada' },
    });
    assert.equal(res.statusCode, 201, res.body);
  });

  const login = (username: string, password: string) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });

  it('logs in by email or username (JSON or OAuth2 form) and returns a bearer token for /auth/me', async () => {
    const res = await login('ADA@example.com', PASSWORD);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(Object.keys(res.json()).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    assert.equal(res.json().token_type, 'bearer');
    assert.equal(res.json().expires_in, 15 * 60);
    assert.equal(res.headers['cache-control'], 'no-store');
    // An EdDSA JWT with the session's claims (their verification: access-tokens.test.ts).
    const [header = '', payload = ''] = String(res.json().access_token).split('.');
    assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()).alg, 'EdDSA');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    assert.deepEqual(Object.keys(claims).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub']);
    assert.ok(!('pwd' in claims), 'no password stamp any more');
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
      payload: `username=ada&password=${encodeURIComponent(PASSWORD)}&grant_type=password`,
    });
    assert.equal(form.statusCode, 200, form.body);
  });

  it('refuses wrong passwords, unknown users, inactive users and bad tokens', async () => {
    const wrong = await login('ada@example.com', NEW_PASSWORD);
    assert.equal(wrong.statusCode, 401);
    assert.deepEqual(wrong.json(), { detail: 'Incorrect username or password' });
    assert.equal(wrong.headers['www-authenticate'], 'Bearer');
    const unknown = await login('nobody@example.com', PASSWORD);
    assert.equal(unknown.statusCode, 401);
    assert.deepEqual(unknown.json(), wrong.json(), 'unknown user and wrong password look the same');
    const anonymous = await t.app.inject('/api/v1/auth/me');
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Bearer');
    assert.equal(
      (await t.app.inject({ url: '/api/v1/auth/me', headers: { authorization: 'Bearer nonsense' } })).statusCode,
      401,
    );
    const token = (await login('ada', PASSWORD)).json().access_token;
    const id = (await t.app.inject({ url: '/api/v1/users/email/ada@example.com', headers: admin })).json().id;
    await t.app.inject({ method: 'POST', url: `/api/v1/users/${id}/deactivate`, headers: admin });
    assert.equal((await login('ada@example.com', PASSWORD)).statusCode, 403);
    const me = await t.app.inject({ url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.statusCode, 401, "a deactivated user's token stops working at once");
  });

  it('changes the password only with the current one, and not to a common password', async () => {
    const token = (await login('ada', PASSWORD)).json().access_token;
    const headers = { authorization: `Bearer ${token}` };
    const change = (current_password: string, new_password: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password',
        headers,
        payload: { current_password, new_password },
      });
    const bad = await change('nope', NEW_PASSWORD);
    assert.equal(bad.statusCode, 422);
    assert.deepEqual(bad.json().detail[0].loc, ['body', 'current_password']);
    const common = await change(PASSWORD, 'password123');
    assert.equal(common.statusCode, 422, common.body);
    assert.match(common.body, /common/i, 'says why');
    const ok = await change(PASSWORD, NEW_PASSWORD);
    assert.equal(ok.statusCode, 204, ok.body);
    assert.equal((await login('ada', PASSWORD)).statusCode, 401);
    assert.equal((await login('ada', NEW_PASSWORD)).statusCode, 200);
    const me = await t.app.inject({ url: '/api/v1/auth/me', headers });
    assert.equal(me.statusCode, 200, 'the session that changed the password stays');
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
