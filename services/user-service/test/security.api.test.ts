/**
 * Issue 7's attacks, replayed on every database: forged list cursors, tokens without expiry or from before a
 * password change, missing security headers, and client input that used to end in a 500.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { type AddressInfo, connect } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import fc from 'fast-check';
import { PasswordStamp } from '../src/auth/password-stamp.js';
import { usersTable } from '../src/users/user.table.js';
import { emptyTables, openTestApp, TEST_TOKEN_SECRET, type TestApp } from './support/test-app.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An HS256 JWT signed with `secret`, with exactly the claims given. */
function jwt(claims: Record<string, unknown>, secret = TEST_TOKEN_SECRET, alg = 'HS256'): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

onEachDatabase('security: attacks from issue 7', (tdb) => {
  let t: TestApp;
  let ids: string[] = [];
  before(async () => {
    t = await openTestApp(tdb);
  });
  after(() => t.close());
  beforeEach(async () => {
    await emptyTables(t.database);
    ids = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        payload: { email: `user${i}@example.com`, password: `password-${i}-long`, username: `user${i}` },
      });
      ids.push(res.json().id);
    }
  });

  const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ url, headers });

  it('refuses a forged cursor that sorts by hashed_password (the hash-leak attack) with 422', async () => {
    const hash =
      (await t.database.repository(usersTable).get(ids[0] as string, { secrets: ['hashed_password'] }))
        ?.hashed_password ?? '';
    const body = b64(['hashed_password', 'asc', hash.slice(0, 40), '00000000-0000-0000-0000-000000000000']);
    // The old scheme's checksum: unkeyed, so an attacker could compute it.
    const unkeyed = createHash('sha256').update('users').update('\0').update(body).digest('base64url').slice(0, 12);
    for (const cursor of [`${body}.${unkeyed}`, body, `${body}.AAAAAAAAAAAAAAAAAAAAAA`]) {
      const res = await get(`/api/v1/users?limit=100&after=${cursor}`);
      assert.equal(res.statusCode, 422, res.body);
      assert.deepEqual(res.json().detail[0].loc, ['query', 'after']);
    }
    const sorted = await get('/api/v1/users?sort=hashed_password');
    assert.equal(sorted.statusCode, 422, 'hashed_password is not a sort key');
  });

  it('answers 422 to any cursor it did not issue, on every paged endpoint (property test)', async () => {
    const real = (await get('/api/v1/users?limit=2')).json().next_cursor as string;
    assert.ok(real);
    const [realBody = '', realMac = ''] = real.split('.');
    const column = fc.constantFrom('id', 'email', 'created_at', 'hashed_password', 'is_superuser', 'x');
    const forged = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.base64String({ maxLength: 200 }),
      fc
        .tuple(column, fc.constantFrom('asc', 'desc', 'up'), fc.jsonValue(), fc.uuid())
        .map((parts) => `${b64(parts)}.${realMac}`),
      fc
        .nat(realBody.length - 1)
        .map((i) => `${realBody.slice(0, i)}${realBody[i] === 'A' ? 'B' : 'A'}${realBody.slice(i + 1)}.${realMac}`),
      fc.nat(real.length - 1).map((i) => real.slice(0, i)),
    );
    await fc.assert(
      fc.asyncProperty(
        forged,
        fc.constantFrom('/api/v1/users', `/api/v1/users/${ids[0]}/personas`),
        async (cursor, path) => {
          if (cursor === real) return;
          const res = await get(`${path}?after=${encodeURIComponent(cursor)}`);
          assert.equal(res.statusCode, 422, `${path} after=${cursor}: ${res.body}`);
          assert.doesNotMatch(res.body, /argon2|hashed_password/);
        },
      ),
      { numRuns: 150, seed: 7 },
    );
    // A genuine cursor still pages, and only for the query it was issued for.
    assert.equal((await get(`/api/v1/users?limit=2&after=${real}`)).statusCode, 200);
    assert.equal((await get(`/api/v1/users?limit=2&active_only=true&after=${real}`)).statusCode, 422);
  });

  it('refuses tokens without exp, with alg none or another key, and tokens from before a password change', async () => {
    const login = async (password: string) =>
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'user0@example.com', password },
        })
      ).json().access_token as string;
    const me = (token: string) => get('/api/v1/auth/me', { authorization: `Bearer ${token}` });
    const row = await t.database.repository(usersTable).get(ids[0] as string, { secrets: ['hashed_password'] });
    const pwd = new PasswordStamp(TEST_TOKEN_SECRET).of(row?.hashed_password ?? '');
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await me(jwt({ sub: ids[0], pwd, iat: now, exp: now + 60 }))).statusCode, 200, 'control');
    assert.equal((await me(jwt({ sub: ids[0], pwd, iat: now }))).statusCode, 401, 'no exp');
    assert.equal((await me(jwt({ sub: ids[0], pwd, iat: now, exp: now - 1 }))).statusCode, 401, 'expired');
    assert.equal((await me(jwt({ sub: ids[0], iat: now, exp: now + 60 }))).statusCode, 401, 'no password stamp');
    assert.equal((await me(jwt({ sub: ids[1], pwd, iat: now, exp: now + 60 }))).statusCode, 401, "another's stamp");
    const other = jwt({ sub: ids[0], pwd, iat: now, exp: now + 60 }, 'another-secret-another-secret-0000');
    assert.equal((await me(other)).statusCode, 401, 'another key');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: ids[0], pwd, iat: now, exp: now + 60 })}.`;
    assert.equal((await me(none)).statusCode, 401, 'alg none');

    // Password changed by the user: the old token dies, a new login works.
    const before = await login('password-0-long');
    assert.equal((await me(before)).statusCode, 200);
    const change = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: { authorization: `Bearer ${before}` },
      payload: { current_password: 'password-0-long', new_password: 'password-0-newer' },
    });
    assert.equal(change.statusCode, 204, change.body);
    assert.equal((await me(before)).statusCode, 401, 'token from before /auth/password');
    const after = await login('password-0-newer');
    assert.equal((await me(after)).statusCode, 200);
    // Password changed through PATCH /users/{id}: the same.
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${ids[0]}`,
      payload: { password: 'password-0-third' },
    });
    assert.equal(patched.statusCode, 200);
    assert.equal((await me(after)).statusCode, 401, 'token from before PATCH with a password');
    // Other changes leave tokens alone.
    const third = await login('password-0-third');
    await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${ids[0]}`, payload: { full_name: 'Renamed' } });
    assert.equal((await me(third)).statusCode, 200);
  });

  it('sends security headers everywhere, a CSP on /docs, and no-store on tokens and API answers', async () => {
    for (const url of ['/api/v1/users', '/docs/', '/openapi.json', '/health']) {
      const res = await get(url);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', url);
      assert.equal(res.headers['x-frame-options'], 'DENY', url);
      assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/, url);
    }
    const docs = await get('/docs/');
    assert.match(String(docs.headers['content-security-policy']), /script-src 'self'/);
    assert.doesNotMatch(docs.body, /<script>[^<]/, '/docs has no inline script for the CSP to block');
    const token = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'user1', password: 'password-1-long' },
    });
    assert.equal(token.statusCode, 200);
    assert.equal(token.headers['cache-control'], 'no-store');
    assert.equal((await get(`/api/v1/users/${ids[1]}`)).headers['cache-control'], 'no-store');
  });

  it('answers 422, never 500, to out-of-range integers, NUL, lone surrogates and wrong JSON types', async () => {
    const paths = ['/api/v1/users', '/api/v1/users/search?q=a&', `/api/v1/users/${ids[0]}/personas`];
    for (const path of paths) {
      const sep = path.endsWith('&') ? '' : '?';
      for (const skip of ['18446744073709551616', '1e300', '0x10', '+', '-1', '2147483648', ' 1', 'NaN']) {
        const res = await get(`${path}${sep}skip=${encodeURIComponent(skip)}`);
        assert.equal(res.statusCode, 422, `${path} skip=${skip}: ${res.body}`);
        assert.equal(res.json().detail[0].loc[1], 'skip');
      }
      assert.equal((await get(`${path}${sep}skip=2147483647`)).statusCode, 200, 'the largest skip is served');
    }
    // In a URL: NUL, and the bytes a lone surrogate would have in UTF-8 (not valid UTF-8, so never a string).
    for (const q of ['a%00b', '%00', '%ED%A0%80', 'x%ED%B0%80y']) {
      for (const url of [`/api/v1/users/search?q=${q}`, `/api/v1/users/by_username/${q}`, `/api/v1/users/email/${q}`]) {
        const res = await get(url);
        // NUL is refused; invalid UTF-8 in a query string is read as U+FFFD (harmless, the same everywhere).
        if (q.includes('%00')) assert.equal(res.statusCode, 422, `${url}: ${res.body}`);
        else assert.ok(res.statusCode < 500, `${url}: ${res.statusCode} ${res.body}`);
        if (res.statusCode >= 400) assert.ok(res.json().detail, url);
      }
    }
    const bad = ['a\u0000b', '\ud800', 'x\udc00y'];
    for (const value of bad) {
      const bodies: [string, string, Record<string, unknown>][] = [
        ['POST', '/api/v1/users', { email: 'n@example.com', password: 'password-long', full_name: value }],
        ['PATCH', `/api/v1/users/${ids[0]}`, { full_name: value }],
        ['POST', `/api/v1/users/${ids[0]}/personas`, { name: value, relation_type: 'x' }],
        ['POST', `/api/v1/users/${ids[0]}/personas`, { name: 'n', relation_type: value }],
        ['POST', `/api/v1/users/${ids[0]}/personas`, { name: 'n', relation_type: 'x', description: value }],
        ['POST', `/api/v1/users/${ids[0]}/personas`, { name: 'n', relation_type: 'x', status: value }],
        ['POST', '/api/v1/auth/login', { username: value, password: 'password-long' }],
      ];
      for (const [method, url, payload] of bodies) {
        const res = await t.app.inject({ method: method as 'POST', url, payload });
        assert.equal(res.statusCode, 422, `${method} ${url} ${JSON.stringify(payload)}: ${res.body}`);
        assert.equal(res.json().detail[0].type, 'string_unicode');
      }
    }
    // Valid astral characters (a surrogate pair) are fine.
    const emoji = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${ids[0]}`,
      payload: { full_name: 'Ada 😀 Lovelace' },
    });
    assert.equal(emoji.json().full_name, 'Ada 😀 Lovelace');

    // Timestamps no database can store are 422 everywhere (PostgreSQL has no year 0000; none stores :60).
    for (const ts of ['0000-01-01T00:00:00Z', '2016-12-31T23:59:60Z']) {
      const res = await get(`/api/v1/users?created_after=${ts}`);
      assert.equal(res.statusCode, 422, `${ts}: ${res.body}`);
      assert.deepEqual(res.json().detail[0].loc, ['query', 'created_after']);
    }
    assert.equal((await get('/api/v1/users?created_after=0001-01-01T00:00:00Z')).statusCode, 200);
    // Only login takes a form; the password change is JSON only.
    const form = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'current_password=a&new_password=bbbbbbbbbb',
    });
    assert.equal(form.statusCode, 415);
    const typed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 42, password: null, full_name: true },
    });
    assert.equal(typed.statusCode, 422);
    assert.deepEqual(
      typed.json().detail.map((d: { loc: string[] }) => d.loc.join('.')),
      ['body.email', 'body.password', 'body.full_name'],
      'every error is listed',
    );
    assert.equal((await t.app.inject('/api/v1/users/count')).json().count, 5, 'nothing was written');
  });

  it('keeps the {"detail": ...} shape for router errors, and documents every status it sends', async () => {
    const badUrl = await get('/api/v1/users/%zz');
    assert.equal(badUrl.statusCode, 400);
    assert.equal(typeof badUrl.json().detail, 'string');
    const long = await get(`/api/v1/users/by_username/${'a'.repeat(200)}`);
    assert.equal(long.statusCode, 422);
    const tooLong = await get(`/api/v1/users/by_username/${'a'.repeat(2000)}`);
    assert.equal(tooLong.statusCode, 414);
    assert.equal(typeof tooLong.json().detail, 'string');
    const doc = (await get('/openapi.json')).json();
    // Unknown body fields: ignored, and the document says so instead of promising additionalProperties: false.
    const createBody = doc.paths['/api/v1/users'].post.requestBody.content['application/json'].schema;
    assert.notEqual(createBody.additionalProperties, false);
    assert.match(createBody.description, /ignored/);
    const extra = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'extra@example.com', password: 'password-long', is_superuser: true, unknown: { a: 1 } },
    });
    assert.equal(extra.statusCode, 201, extra.body);
    assert.equal(extra.json().is_superuser, false);
    const head = doc.paths['/api/v1/users/{id}'].head.responses;
    for (const code of ['200', '404', '422']) assert.ok(head[code], `HEAD /users/{id} documents ${code}`);
    for (const [path, ops] of Object.entries(
      doc.paths as Record<string, Record<string, { requestBody?: unknown; responses: object }>>,
    )) {
      for (const [method, op] of Object.entries(ops)) {
        if (op.requestBody) assert.ok('415' in op.responses, `${method} ${path} documents 415`);
      }
    }
  });

  it('answers 404, never 500, to personas created while their user is being deleted', async () => {
    const victims = ids.slice(1);
    const attempts = victims.flatMap((id) => [
      t.app.inject({ method: 'DELETE', url: `/api/v1/users/${id}` }),
      ...Array.from({ length: 20 }, (_, i) =>
        t.app.inject({
          method: 'POST',
          url: `/api/v1/users/${id}/personas`,
          payload: { name: `p${i}`, relation_type: 'friend' },
        }),
      ),
    ]);
    const statuses = (await Promise.all(attempts)).map((r) => r.statusCode);
    assert.deepEqual(
      [...new Set(statuses)].filter((s) => ![201, 204, 404].includes(s)),
      [],
      `statuses: ${statuses.join(',')}`,
    );
    for (const id of victims) assert.equal((await get(`/api/v1/users/${id}/personas`)).statusCode, 404);
  });
});

describe('errors raised before routing, on a real socket', () => {
  it('answers oversized headers with 431 in the {"detail": ...} shape', async () => {
    const t = await openTestApp({ kind: 'sqlite', url: 'sqlite::memory:' });
    try {
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = t.app.server.address() as AddressInfo;
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
        });
        let data = '';
        socket.on('data', (d) => {
          data += d;
        });
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
        socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
      });
      assert.match(raw, /^HTTP\/1\.1 431 /);
      assert.deepEqual(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), { detail: 'Request headers too large' });
    } finally {
      await t.close();
    }
  });
});
