/**
 * AUTH_REQUIRED=false: the predecessors' open API for a service behind a trusted gateway. Their walk-through
 * passes without any credentials, on every database; what acts for a signed-in user (/users/me, sessions,
 * logout, password change) and what only a superuser may do (API keys) still needs its principal.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { emptyTables, openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const API = '/api/v1';

function ok(res: LightMyRequestResponse, status: number, what: string): any {
  assert.equal(res.statusCode, status, `${what}: ${res.statusCode} ${res.body}`);
  return res.body ? res.json() : undefined;
}

onEachDatabase('open mode (AUTH_REQUIRED=false)', (tdb) => {
  let t: TestApp;
  // Anonymous unless a request says otherwise: no default API key.
  const send = (options: InjectOptions) => t.app.inject(options);

  before(async () => {
    t = await openTestApp(tdb, { access: { authRequired: false }, defaultCredentials: false });
    await emptyTables(t.database);
  });
  after(() => t.close());

  it("passes the predecessors' walk-through anonymously", async () => {
    const created = ok(
      await send({
        method: 'POST',
        url: `${API}/users`,
        payload: {
          email: 'Walk@Example.com',
          password: TEST_PASSWORD,
          username: 'walker',
          full_name: 'Walk Through',
          personas: [{ name: 'Home', relation_type: 'family' }],
          is_superuser: true,
        },
      }),
      201,
      'create',
    );
    assert.equal(created.is_superuser, false, 'privileged fields are still ignored');
    const id = created.id as string;
    assert.equal(ok(await send({ url: `${API}/users/${id}` }), 200, 'get by id').email, 'walk@example.com');
    assert.equal((await send({ method: 'HEAD', url: `${API}/users/${id}` })).statusCode, 200, 'head');
    assert.equal(ok(await send({ url: `${API}/users/email/walk@example.com` }), 200, 'by email').id, id);
    assert.equal(ok(await send({ url: `${API}/users/by_username/walker` }), 200, 'by username').id, id);
    assert.equal(ok(await send({ url: `${API}/users` }), 200, 'list').total, 1);
    assert.equal(ok(await send({ url: `${API}/users/search?q=walk` }), 200, 'search').users[0].id, id);
    assert.equal(ok(await send({ url: `${API}/users/count` }), 200, 'count').count, 1);
    const patched = ok(
      await send({ method: 'PATCH', url: `${API}/users/${id}`, payload: { full_name: 'Walked Through' } }),
      200,
      'patch',
    );
    assert.equal(patched.full_name, 'Walked Through');
    ok(await send({ method: 'PUT', url: `${API}/users/${id}`, payload: { username: 'walker2' } }), 200, 'put');
    // The role stays a superuser's to grant, even with the API open.
    ok(await send({ method: 'PATCH', url: `${API}/users/${id}`, payload: { is_superuser: true } }), 403, 'grant');

    const personas = `${API}/users/${id}/personas`;
    const listed = ok(await send({ url: personas }), 200, 'personas list');
    assert.equal(listed.total, 1);
    const persona = ok(
      await send({ method: 'POST', url: personas, payload: { name: 'Work', relation_type: 'colleague' } }),
      201,
      'persona create',
    );
    ok(await send({ url: `${personas}/${persona.id}` }), 200, 'persona get');
    ok(
      await send({ method: 'PUT', url: `${personas}/${persona.id}`, payload: { description: 'Office' } }),
      200,
      'persona put',
    );
    const status = ok(
      await send({ method: 'PATCH', url: `${personas}/${persona.id}`, payload: { status: 'archived' } }),
      200,
      'persona patch',
    );
    assert.equal(status.status, 'archived');
    ok(await send({ method: 'DELETE', url: `${personas}/${persona.id}` }), 204, 'persona delete');
    ok(await send({ url: `${personas}/${persona.id}` }), 404, 'persona gone');

    assert.equal(ok(await send({ method: 'POST', url: `${API}/users/${id}/deactivate` }), 200, 'off').is_active, false);
    const refused = await send({
      method: 'POST',
      url: `${API}/auth/login`,
      payload: { username: 'walker2', password: TEST_PASSWORD },
    });
    ok(refused, 403, 'login while inactive');
    assert.equal(ok(await send({ method: 'POST', url: `${API}/users/${id}/activate` }), 200, 'on').is_active, true);

    const token = ok(
      await send({
        method: 'POST',
        url: `${API}/auth/login`,
        payload: { username: 'walker2', password: TEST_PASSWORD },
      }),
      200,
      'login',
    );
    assert.equal(token.token_type, 'bearer');
    assert.ok(token.refresh_token);
    const headers = { authorization: `Bearer ${token.access_token}` };
    assert.equal(ok(await send({ url: `${API}/auth/me`, headers }), 200, '/auth/me').id, id);
    assert.equal(ok(await send({ url: `${API}/users/me`, headers }), 200, '/users/me with the token').id, id);

    ok(await send({ method: 'DELETE', url: `${API}/users/${id}` }), 204, 'delete');
    ok(await send({ url: `${API}/users/${id}` }), 404, 'deleted');
    ok(await send({ url: `${API}/auth/me`, headers }), 401, "a deleted user's token");
  });

  it('still needs a signed-in user or a superuser where the API acts for one', async () => {
    const id = '01900000-0000-7000-8000-000000000000';
    const closed: InjectOptions[] = [
      { url: `${API}/users/me` },
      { method: 'PATCH', url: `${API}/users/me`, payload: { full_name: 'X' } },
      { method: 'DELETE', url: `${API}/users/me`, payload: { password: TEST_PASSWORD } },
      { url: `${API}/users/me/personas` },
      { method: 'POST', url: `${API}/users/me/personas`, payload: { name: 'n', relation_type: 'r' } },
      { url: `${API}/auth/me` },
      { url: `${API}/auth/sessions` },
      { method: 'DELETE', url: `${API}/auth/sessions/${id}` },
      { method: 'POST', url: `${API}/auth/logout` },
      { method: 'POST', url: `${API}/auth/password`, payload: { current_password: 'a', new_password: TEST_PASSWORD } },
      { url: `${API}/api-keys` },
      { url: `${API}/api-keys/${id}` },
      { method: 'POST', url: `${API}/api-keys`, payload: { name: 'open', scopes: ['users:read'] } },
      { method: 'DELETE', url: `${API}/api-keys/${id}` },
    ];
    for (const options of closed) {
      const res = await send(options);
      ok(res, 401, `${options.method ?? 'GET'} ${options.url}`);
      assert.equal(res.headers['www-authenticate'], 'Bearer');
    }
    // A signed-in user who is not a superuser gets 403 on the API keys, as with AUTH_REQUIRED=true.
    const user = await t.signUp();
    ok(await send({ url: `${API}/api-keys`, headers: user.headers }), 403, 'api-keys as a user');
    ok(await send({ url: `${API}/auth/sessions`, headers: user.headers }), 200, 'sessions as the user');
    // Sending a valid token never loses access the open API gives anonymous callers.
    ok(await send({ url: `${API}/users`, headers: user.headers }), 200, 'list as a signed-in ordinary user');
    const other = await t.signUp();
    ok(await send({ url: `${API}/users/${other.user.id}`, headers: user.headers }), 200, "another user's record");
  });

  it('still refuses credentials that are present but wrong, and unknown paths are 404', async () => {
    const res = await send({ url: `${API}/users`, headers: { authorization: 'Bearer not-a-token' } });
    ok(res, 401, 'wrong bearer');
    ok(await send({ url: `${API}/users`, headers: { 'x-api-key': 'usk_wrong' } }), 401, 'wrong key');
    ok(await send({ url: '/nope' }), 404, 'unknown path');
  });
});
