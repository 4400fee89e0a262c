import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { onEachDatabase, requireUrl, TcpProxy } from '@user-service/data/testing';
import { openTestApp, type TestApp } from './support/test-app.js';

onEachDatabase('HTTP behaviour', (tdb) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(tdb, { bodyLimitBytes: 2048 });
  });
  after(() => t.close());

  it('answers malformed JSON with 400, an oversized body with 413, and writes nothing', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": ',
    });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(bad.json(), { detail: 'Malformed JSON in request body' });
    const big = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'big@example.com', password: 'password-1', full_name: 'x'.repeat(4000) },
    });
    assert.equal(big.statusCode, 413);
    assert.match(big.json().detail, /too large.*2048 bytes/);
    const text = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { 'content-type': 'text/plain' },
      payload: 'hi',
    });
    assert.equal(text.statusCode, 415);
    assert.equal((await t.app.inject('/api/v1/users/count')).json().count, 0);
  });

  it('answers an unknown route with 404 and a wrong method with 405 and Allow', async () => {
    const missing = await t.app.inject('/api/v1/nothing-here');
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { detail: 'Not Found' });
    const wrong = await t.app.inject({ method: 'DELETE', url: '/api/v1/users' });
    assert.equal(wrong.statusCode, 405);
    assert.deepEqual(wrong.json(), { detail: 'Method Not Allowed' });
    assert.match(String(wrong.headers.allow), /GET/);
    assert.match(String(wrong.headers.allow), /POST/);
    // HEAD where only GET is declared: 405 naming GET (the routes have no automatic HEAD twin).
    const head = await t.app.inject({ method: 'HEAD', url: '/health' });
    assert.equal(head.statusCode, 405);
    assert.equal(head.headers.allow, 'GET');
  });

  it('gives every response a request id, keeping a sane incoming one', async () => {
    const generated = await t.app.inject('/health');
    assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const kept = await t.app.inject({ url: '/health', headers: { 'x-request-id': 'trace-123' } });
    assert.equal(kept.headers['x-request-id'], 'trace-123');
    const unsafe = await t.app.inject({ url: '/health', headers: { 'x-request-id': 'bad id\nwith newline' } });
    assert.notEqual(unsafe.headers['x-request-id'], 'bad id\nwith newline');
    const error = await t.app.inject('/api/v1/nothing');
    assert.ok(error.headers['x-request-id']);
  });

  it('publishes OpenAPI 3 with request and response schemas and errors for every route, and serves /docs', async () => {
    const spec = (await t.app.inject('/openapi.json')).json();
    assert.match(spec.openapi, /^3\./);
    const expected: [string, string][] = [
      ['post', '/api/v1/users'],
      ['get', '/api/v1/users'],
      ['get', '/api/v1/users/search'],
      ['get', '/api/v1/users/count'],
      ['get', '/api/v1/users/{id}'],
      ['head', '/api/v1/users/{id}'],
      ['put', '/api/v1/users/{id}'],
      ['patch', '/api/v1/users/{id}'],
      ['delete', '/api/v1/users/{id}'],
      ['post', '/api/v1/users/{id}/activate'],
      ['post', '/api/v1/users/{id}/deactivate'],
      ['get', '/api/v1/users/email/{email}'],
      ['get', '/api/v1/users/by_username/{username}'],
      ['post', '/api/v1/users/{user_id}/personas'],
      ['get', '/api/v1/users/{user_id}/personas'],
      ['get', '/api/v1/users/{user_id}/personas/{persona_id}'],
      ['put', '/api/v1/users/{user_id}/personas/{persona_id}'],
      ['patch', '/api/v1/users/{user_id}/personas/{persona_id}'],
      ['delete', '/api/v1/users/{user_id}/personas/{persona_id}'],
      ['get', '/health'],
      ['get', '/health/ready'],
    ];
    for (const [method, path] of expected) {
      const op = spec.paths[path]?.[method];
      assert.ok(op, `${method.toUpperCase()} ${path} is documented`);
      assert.ok(op.summary, `${method} ${path} has a summary`);
      const codes = Object.keys(op.responses);
      assert.ok(
        codes.some((c) => c.startsWith('2')),
        `${method} ${path} documents its success response`,
      );
      if (path.startsWith('/api') && method !== 'head')
        assert.ok(codes.includes('422'), `${method} ${path} documents 422`);
    }
    assert.ok(spec.components.schemas.UserPublic, 'UserPublic is a named component');
    assert.ok(!JSON.stringify(spec.components.schemas.UserPublic).includes('hashed_password'));
    const create = spec.paths['/api/v1/users'].post;
    assert.ok(create.requestBody.content['application/json'].schema.properties.email);
    assert.ok(create.responses['409']);
    const docs = await t.app.inject('/docs/');
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  });

  it('reports ready only when the database answers and the schema is at head', async () => {
    assert.deepEqual((await t.app.inject('/health')).json(), { status: 'ok' });
    const ready = await t.app.inject('/health/ready');
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().status, 'ready');
    await t.migrator.down();
    const behind = await t.app.inject('/health/ready');
    assert.equal(behind.statusCode, 503);
    assert.match(behind.json().detail, /1 migration\(s\) pending/);
    await t.migrator.up();
    assert.equal((await t.app.inject('/health/ready')).statusCode, 200);
  });
});

onEachDatabase(
  'database outage',
  (tdb) => {
    let t: TestApp;
    let proxy: TcpProxy;
    before(async () => {
      const url = new URL(requireUrl(tdb));
      proxy = new TcpProxy(url.hostname, Number(url.port || (tdb.kind === 'postgres' ? 5432 : 3306)));
      url.port = String(await proxy.start());
      t = await openTestApp({ ...tdb, url: url.toString() });
    });
    after(async () => {
      await t.close().catch(() => {});
      await proxy.cut().catch(() => {});
    });

    it('answers 503 with Retry-After while the database is down, and serves again by itself', async () => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        payload: { email: 'up@example.com', password: 'password-1' },
      });
      assert.equal(created.statusCode, 201);
      await proxy.cut();
      for (const req of [
        { url: `/api/v1/users/${created.json().id}` },
        { url: '/api/v1/users' },
        {
          method: 'POST' as const,
          url: '/api/v1/users',
          payload: { email: 'down@example.com', password: 'password-1' },
        },
      ]) {
        const res = await t.app.inject(req);
        assert.equal(res.statusCode, 503, `${req.url}: ${res.body}`);
        assert.equal(res.headers['retry-after'], '5');
        assert.doesNotMatch(res.body, /select|insert|ECONN|stack/i, 'no internals in the body');
      }
      assert.equal((await t.app.inject('/health/ready')).statusCode, 503);
      await proxy.restore();
      let status = 0;
      for (let i = 0; i < 5 && status !== 200; i++)
        status = (await t.app.inject(`/api/v1/users/${created.json().id}`)).statusCode;
      assert.equal(status, 200);
      assert.equal((await t.app.inject('/health/ready')).statusCode, 200);
    });
  },
  ['postgres', 'mariadb'],
);
