/**
 * Request validation is the app's own (http/validators.ts) in every route plugin, including the plugins that
 * register their own shared schemas (api-keys, audit): Fastify rebuilds the validator of such a context from the
 * server's compiler factory, which once was its default Ajv there (coercing a number to a string, letting NUL
 * through to the database: a 500 on PostgreSQL).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { openTestApp, type SignedIn, type TestApp } from './support/test-app.js';

onEachDatabase('validation in plugins with their own schemas', (tdb) => {
  let t: TestApp;
  let admin: SignedIn;

  before(async () => {
    t = await openTestApp(tdb, { defaultCredentials: false });
    admin = await t.signUp({ superuser: true });
  });
  after(() => t.close());

  const createKey = (payload: object) =>
    t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: admin.headers, payload });

  it('an API key body is not coerced: a number for the name and a string for the scopes are 422', async () => {
    const numberName = await createKey({ name: 123, scopes: ['users:read'] });
    assert.equal(numberName.statusCode, 422, numberName.body);
    assert.deepEqual(numberName.json().detail[0].loc, ['body', 'name']);
    const stringScopes = await createKey({ name: 'x', scopes: 'users:read' });
    assert.equal(stringScopes.statusCode, 422, stringScopes.body);
    assert.deepEqual(stringScopes.json().detail[0].loc, ['body', 'scopes']);
  });

  it('a NUL in an API key name is 422, never stored nor a 500', async () => {
    const res = await createKey({ name: 'a\u0000b', scopes: ['users:read'] });
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json().detail[0].type, 'string_unicode');
    const list = await t.app.inject({ url: '/api/v1/api-keys', headers: admin.headers });
    assert.equal(list.statusCode, 200, list.body);
    assert.ok(!list.body.includes('\\u0000'), 'no key with a NUL in its name was stored');
  });

  it('the audit list takes an integer limit only when written as one', async () => {
    const hex = await t.app.inject({ url: '/api/v1/audit-events?limit=0x10', headers: admin.headers });
    assert.equal(hex.statusCode, 422, hex.body);
    const plain = await t.app.inject({ url: '/api/v1/audit-events?limit=16', headers: admin.headers });
    assert.equal(plain.statusCode, 200, plain.body);
  });
});
