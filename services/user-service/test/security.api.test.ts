/**
 * Issue 7's attacks, replayed on every database: forged list cursors, forged access tokens (now against the
 * EdDSA verifier and the session check, end to end; the verifier's own cases are in access-tokens.test.ts),
 * sessions that must end on a password change, missing security headers, and client input that used to end in
 * a 500.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type AddressInfo, connect } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import fc from 'fast-check';
import { decodeJwt, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { SigningKeyRepository } from '../src/auth/signing-key.repository.js';
import { usersTable } from '../src/users/user.table.js';
import { emptyTables, openTestApp, TEST_PASSWORD, TEST_TOKEN_SECRET, type TestApp } from './support/test-app.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The fixture users' passwords: none on a common-password list. */
const passwordOf = (i: number) => `${TEST_PASSWORD}-${i}`;

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
        payload: { email: `user${i}@example.com`, password: passwordOf(i), username: `user${i}` },
      });
      assert.equal(res.statusCode, 201, res.body);
      ids.push(res.json().id);
    }
  });

  const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ url, headers });
  async function login(username: string, password: string): Promise<{ access_token: string; refresh_token: string }> {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  }

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

  it('refuses forged access tokens at the API: no exp, alg none, HS256 with the server secret, a stranger key', async () => {
    const tokens = await login('user0@example.com', passwordOf(0));
    const me = (token: string) => get('/api/v1/auth/me', { authorization: `Bearer ${token}` });
    const real = decodeJwt(tokens.access_token);
    // The service's own signing key: a forgery signed with it differs from a real token only where we say.
    const [key] = await new SigningKeyRepository(t.database).all();
    assert.ok(key);
    const privateJwk = JSON.parse((await new SigningKeyRepository(t.database).privateKey(key.kid)) ?? '') as JWK;
    const signing = await importJWK(privateJwk, 'EdDSA');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      sub: real.sub,
      sid: real.sid,
      jti: 'forged-1',
      iat: now,
      exp: now + 60,
      iss: real.iss,
      aud: real.aud,
    };
    const sign = (body: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      new SignJWT(body).setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'at+jwt', ...header }).sign(signing);
    assert.equal((await me(await sign(claims))).statusCode, 200, 'control: the real key and claims');
    const { exp: _exp, ...noExp } = claims;
    const secret = new TextEncoder().encode(TEST_TOKEN_SECRET);
    const stranger = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey;
    const other = await login('user1@example.com', passwordOf(1));
    const forged: [string, string][] = [
      ['no exp', await sign(noExp)],
      ['expired', await sign({ ...claims, iat: now - 120, exp: now - 60 })],
      ['wrong audience', await sign({ ...claims, aud: 'another-service' })],
      ['wrong issuer', await sign({ ...claims, iss: 'someone-else' })],
      ['another type', await sign(claims, { typ: 'JWT' })],
      ['alg none', `${b64({ alg: 'none', typ: 'at+jwt', kid: key.kid })}.${b64(claims)}.`],
      [
        'HS256 with the server secret',
        await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid }).sign(secret),
      ],
      [
        "a stranger's key under the service's kid",
        await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'at+jwt' }).sign(stranger),
      ],
      ['an unknown session', await sign({ ...claims, sid: '01900000-0000-7000-8000-000000000000' })],
      ["another user's session", await sign({ ...claims, sid: decodeJwt(other.access_token).sid })],
      ["another user's id in a real session", await sign({ ...claims, sub: ids[1] })],
      ['the refresh token', tokens.refresh_token],
    ];
    for (const [what, token] of forged) {
      const res = await me(token);
      assert.equal(res.statusCode, 401, `${what}: ${res.body}`);
      assert.equal(res.headers['www-authenticate'], 'Bearer', what);
    }
  });

  it("ends other sessions on a password change, keeps the current one; a PATCH with a password ends the user's sessions", async () => {
    const me = (token: string) => get('/api/v1/auth/me', { authorization: `Bearer ${token}` });
    const current = await login('user0@example.com', passwordOf(0));
    const elsewhere = await login('user0', passwordOf(0));
    const bystander = await login('user1', passwordOf(1));
    const change = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: { authorization: `Bearer ${current.access_token}` },
      payload: { current_password: passwordOf(0), new_password: `${passwordOf(0)}-newer` },
    });
    assert.equal(change.statusCode, 204, change.body);
    assert.equal((await me(current.access_token)).statusCode, 200, 'the session that changed it stays');
    assert.equal((await me(elsewhere.access_token)).statusCode, 401, 'another session of the user ends');
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: elsewhere.refresh_token },
    });
    assert.equal(refresh.statusCode, 401, 'and its refresh token with it');
    assert.equal((await me(bystander.access_token)).statusCode, 200, "another user's session is untouched");
    assert.equal((await login('user0', `${passwordOf(0)}-newer`)).access_token.length > 0, true);

    // A password set through PATCH /users/{id} (here by the API key): every session of that user ends.
    const again = await login('user0', `${passwordOf(0)}-newer`);
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${ids[0]}`,
      payload: { password: `${passwordOf(0)}-third` },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    for (const token of [current.access_token, again.access_token]) {
      assert.equal((await me(token)).statusCode, 401, 'token from before PATCH with a password');
    }
    assert.equal((await me(bystander.access_token)).statusCode, 200);
    // Other changes leave sessions alone.
    const third = await login('user0', `${passwordOf(0)}-third`);
    const renamed = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${ids[0]}`,
      payload: { full_name: 'Renamed', email: 'user0-renamed@example.com' },
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal((await me(third.access_token)).statusCode, 200, 'a PATCH without a password keeps the session');
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
      payload: { username: 'user1', password: passwordOf(1) },
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
        ['POST', '/api/v1/users', { email: 'n@example.com', password: TEST_PASSWORD, full_name: value }],
        ['PATCH', `/api/v1/users/${ids[0]}`, { full_name: value }],
        ['POST', `/api/v1/users/${ids[0]}/personas`, { name: value, relation_type: 'x' }],
        ['POST', `/api/v1/users/${ids[0]}/personas`, { name: 'n', relation_type: value }],
        ['POST', `/api/v1/users/${ids[0]}/personas`, { name: 'n', relation_type: 'x', description: value }],
        ['POST', `/api/v1/users/${ids[0]}/personas`, { name: 'n', relation_type: 'x', status: value }],
        ['POST', '/api/v1/auth/login', { username: value, password: TEST_PASSWORD }],
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
    // Only login takes a form; the password change is JSON only (asked by a signed-in user, whom the policy admits).
    const signed = await login('user2', passwordOf(2));
    const form = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${signed.access_token}` },
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
      payload: { email: 'extra@example.com', password: TEST_PASSWORD, is_superuser: true, unknown: { a: 1 } },
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
