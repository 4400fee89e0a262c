/**
 * API keys through the whole app on each database: a superuser creates a key and sees its secret once; the key
 * works as `Authorization: Bearer usk_...` and as `X-API-Key`, within its scopes only; a revoked key is refused;
 * lists and lookups never show a secret or a hash; only superusers manage keys.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { onEachDatabase } from '@user-service/data/testing';
import type { FastifyInstance } from 'fastify';
import { openTestApp, type SignedIn, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const NO_KEY = '01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a';

onEachDatabase('API keys API', (tdb) => {
  let t: TestApp;
  let app: FastifyInstance;
  let admin: SignedIn;

  before(async () => {
    t = await openTestApp(tdb, { defaultCredentials: false });
    app = t.app;
    admin = await t.signUp({ superuser: true });
  });
  after(() => t.close());

  async function createKey(payload: object) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: admin.headers, payload });
    assert.equal(res.statusCode, 201, res.body);
    return { res, key: res.json() as { id: string; secret: string; prefix: string; [k: string]: unknown } };
  }

  it('a superuser creates a key and gets its secret once, with a Location', async () => {
    const { res, key } = await createKey({ name: 'reporting', scopes: ['users:read'] });
    assert.equal(res.headers.location, `/api/v1/api-keys/${key.id}`);
    assert.match(key.secret, /^usk_[A-Za-z0-9_-]{43}$/);
    assert.equal(key.prefix, key.secret.slice(0, 12));
    assert.equal(key.created_by, admin.user.id);
    assert.deepEqual(key.scopes, ['users:read']);
    assert.ok(!('key_hash' in key));
  });

  it('the key works as a bearer token and as X-API-Key, within its scopes', async () => {
    const { key } = await createKey({ name: 'reader', scopes: ['users:read'] });
    const bearer = await app.inject({ url: '/api/v1/users', headers: { authorization: `Bearer ${key.secret}` } });
    assert.equal(bearer.statusCode, 200, bearer.body);
    const header = await app.inject({ url: '/api/v1/users', headers: { 'x-api-key': key.secret } });
    assert.equal(header.statusCode, 200, header.body);

    const write = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { 'x-api-key': key.secret },
      payload: { email: 'by-reader@example.com', password: TEST_PASSWORD },
    });
    assert.equal(write.statusCode, 403, write.body);

    const { key: writer } = await createKey({ name: 'writer', scopes: ['users:read', 'users:write'] });
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { authorization: `Bearer ${writer.secret}` },
      payload: { email: 'by-writer@example.com', password: TEST_PASSWORD },
    });
    assert.equal(created.statusCode, 201, created.body);
  });

  it('a wrong or malformed key is 401', async () => {
    const { key } = await createKey({ name: 'real', scopes: ['users:read'] });
    const body = key.secret.slice(4);
    const wrong = `usk_${body.slice(0, -1)}${body.endsWith('A') ? 'B' : 'A'}`;
    for (const headers of [{ 'x-api-key': wrong }, { authorization: `Bearer ${wrong}` }, { 'x-api-key': 'usk_x' }]) {
      const res = await app.inject({ url: '/api/v1/users', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
    }
  });

  it('a revoked key is 401 on its next request; revoking an unknown key is 404', async () => {
    const { key } = await createKey({ name: 'short-lived', scopes: ['users:read'] });
    assert.equal((await app.inject({ url: '/api/v1/users', headers: { 'x-api-key': key.secret } })).statusCode, 200);
    const revoked = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: admin.headers });
    assert.equal(revoked.statusCode, 204, revoked.body);
    const refused = await app.inject({ url: '/api/v1/users', headers: { 'x-api-key': key.secret } });
    assert.equal(refused.statusCode, 401);
    const again = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: admin.headers });
    assert.equal(again.statusCode, 204);
    const shown = await app.inject({ url: `/api/v1/api-keys/${key.id}`, headers: admin.headers });
    assert.ok(shown.json().revoked_at);
    const unknown = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${NO_KEY}`, headers: admin.headers });
    assert.equal(unknown.statusCode, 404);
  });

  it('lists and lookups never show a secret or a hash; last_used_at shows a use', async () => {
    const { key } = await createKey({ name: 'listed', scopes: ['personas:read'] });
    assert.equal(
      (await app.inject({ url: '/api/v1/users/count', headers: { 'x-api-key': key.secret } })).statusCode,
      403,
    );
    const list = await app.inject({ url: '/api/v1/api-keys', headers: admin.headers });
    assert.equal(list.statusCode, 200);
    const keys = list.json().api_keys as { id: string }[];
    assert.ok(keys.some((k) => k.id === key.id));
    const one = await app.inject({ url: `/api/v1/api-keys/${key.id}`, headers: admin.headers });
    assert.equal(one.statusCode, 200);
    for (const text of [list.body, one.body]) {
      assert.ok(!text.includes(key.secret), 'secret shown');
      assert.ok(!text.includes(key.secret.slice(12)), 'secret past its prefix shown');
      assert.ok(!/key_hash|"secret"/.test(text), 'hash or secret field shown');
    }
    // The use above was recorded without holding up its request: it shows shortly after.
    let lastUsed: unknown = null;
    for (let i = 0; i < 50 && !lastUsed; i++) {
      lastUsed = (await app.inject({ url: `/api/v1/api-keys/${key.id}`, headers: admin.headers })).json().last_used_at;
      if (!lastUsed) await sleep(20);
    }
    assert.ok(lastUsed, 'last_used_at not recorded');
  });

  it('refuses invalid keys to create with 422', async () => {
    const cases = [
      { name: 'x', scopes: [] },
      { name: 'x', scopes: ['admin'] },
      { name: 'x', scopes: ['users:read', 'users:read'] },
      { name: '', scopes: ['users:read'] },
      { name: '   ', scopes: ['users:read'] },
      { name: 'x', scopes: ['users:read'], expires_at: '2001-01-01T00:00:00Z' },
      { name: 'x', scopes: ['users:read'], expires_at: 'tomorrow' },
      { scopes: ['users:read'] },
    ];
    for (const payload of cases) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: admin.headers, payload });
      assert.equal(res.statusCode, 422, `${JSON.stringify(payload)}: ${res.body}`);
    }
    const future = new Date(Date.now() + 86_400_000).toISOString();
    const { key } = await createKey({ name: 'expiring', scopes: ['users:read'], expires_at: future });
    assert.equal(key.expires_at, future);
  });

  it('only superusers manage keys: anonymous 401, a user or an API key 403', async () => {
    const user = await t.signUp();
    const requests = [
      { method: 'POST' as const, url: '/api/v1/api-keys', payload: { name: 'x', scopes: ['users:read'] } },
      { method: 'GET' as const, url: '/api/v1/api-keys' },
      { method: 'GET' as const, url: `/api/v1/api-keys/${NO_KEY}` },
      { method: 'DELETE' as const, url: `/api/v1/api-keys/${NO_KEY}` },
    ];
    for (const request of requests) {
      const label = `${request.method} ${request.url}`;
      assert.equal((await app.inject(request)).statusCode, 401, `${label} anonymous`);
      assert.equal((await app.inject({ ...request, headers: user.headers })).statusCode, 403, `${label} user`);
      // The test app's key holds every scope, and still may not manage keys.
      assert.equal((await app.inject({ ...request, headers: { 'x-api-key': t.apiKey } })).statusCode, 403, label);
    }
  });

  it('documents the routes without a secret in any listed schema', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    const schemas = doc.components.schemas;
    assert.ok(!('secret' in schemas.ApiKeyPublic.properties));
    assert.ok(!('key_hash' in schemas.ApiKeyPublic.properties));
    assert.ok('secret' in schemas.ApiKeyCreated.properties);
    assert.ok(!('key_hash' in schemas.ApiKeyCreated.properties));
    const post = doc.paths['/api/v1/api-keys'].post;
    assert.ok(post.summary && post.description);
    for (const code of ['201', '401', '403', '409', '422']) assert.ok(post.responses[code], code);
    for (const code of ['401', '403', '404'])
      assert.ok(doc.paths['/api/v1/api-keys/{id}'].delete.responses[code], code);
  });
});
