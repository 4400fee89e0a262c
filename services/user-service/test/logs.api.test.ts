/**
 * Logs through a whole API run on each database, with the service's own logger options writing to a captured
 * stream: every request leaves exactly one access line (method, route template, path without the query, status,
 * duration, request id, the user or API key when known, client IP), and no line anywhere carries a password, a
 * token, an API key secret, a hash or a query string, including the error line of a 500 whose error object
 * holds secrets in its properties.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { loggerOptions, prettyLogs, serializeError } from '../src/observability/logger.js';
import { openTestApp, type SignedIn, TEST_PASSWORD, type TestApp } from './support/test-app.js';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  method?: string;
  route?: string;
  path?: string;
  status?: number;
  duration_ms?: number;
  user_id?: string;
  api_key_id?: string;
  ip?: string;
  err?: Record<string, unknown>;
  [key: string]: unknown;
}

const HASH = /\$argon2(id|i|d)\$|\$2[aby]\$\d\d\$/;

onEachDatabase('logs: one access line per request, never a secret', (tdb) => {
  let t: TestApp;
  let app: FastifyInstance;
  let admin: SignedIn;
  const raw: string[] = [];
  /** Every secret the run used or received. */
  const secrets = new Set<string>([TEST_PASSWORD]);
  /** Request id -> what the access line of that request must say. */
  const expected = new Map<
    string,
    { method: string; status: number; route: string; path: string; user_id?: string; api_key_id?: string }
  >();

  before(async () => {
    t = await openTestApp(tdb, {
      defaultCredentials: false,
      logger: await loggerOptions(
        { level: 'info', format: 'json' },
        { destination: { write: (line) => raw.push(line) } },
      ),
    });
    app = t.app;
    admin = await t.signUp({ superuser: true });
    secrets.add(admin.access_token).add(admin.refresh_token).add(t.apiKey);
  });
  after(() => t.close());

  /** Sends a request and records what its access line must hold. */
  async function send(
    options: InjectOptions,
    expect: { status: number; route: string; user_id?: string; api_key_id?: string },
  ): Promise<LightMyRequestResponse> {
    const res = await app.inject(options);
    assert.equal(res.statusCode, expect.status, `${options.method ?? 'GET'} ${options.url}: ${res.body}`);
    const id = String(res.headers['x-request-id']);
    const path = String(options.url).split('?')[0] ?? '';
    expected.set(id, { ...expect, path, method: options.method ?? 'GET' });
    return res;
  }

  it('a whole run: register, login, refresh, wrong password, forged tokens, API keys, password change, 422, cursor list, 500, logout', async () => {
    const password = 'Amber-Lattice-Harbor-61';
    const newPassword = 'Cobalt-Meadow-Sparrow-29';
    const wrongPassword = 'Wrong-Password-Quartz-77';
    const invalidBodyPassword = 'Refused-Body-Password-13';
    const crashPassword = 'Crash-Inducing-Password-58';
    const forgedJwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJmb3JnZWQifQ.Zm9yZ2VkLXNpZ25hdHVyZS1ieXRlcw';
    const garbageToken = 'garbage-bearer-token-Xq81xZ';
    for (const secret of [
      password,
      newPassword,
      wrongPassword,
      invalidBodyPassword,
      crashPassword,
      forgedJwt,
      garbageToken,
    ])
      secrets.add(secret);
    const email = 'logged@example.com';

    const registered = await send(
      { method: 'POST', url: '/api/v1/auth/register', payload: { email, password } },
      { status: 201, route: '/api/v1/auth/register' },
    );
    const userId = (registered.json() as { id: string }).id;

    const login = await send(
      { method: 'POST', url: '/api/v1/auth/login', payload: { username: email, password } },
      { status: 200, route: '/api/v1/auth/login' },
    );
    const first = login.json() as { access_token: string; refresh_token: string };
    secrets.add(first.access_token).add(first.refresh_token);

    await send(
      { url: '/api/v1/auth/me', headers: { authorization: `Bearer ${first.access_token}` } },
      { status: 200, route: '/api/v1/auth/me', user_id: userId },
    );

    const refreshed = await send(
      { method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: first.refresh_token } },
      { status: 200, route: '/api/v1/auth/refresh' },
    );
    const second = refreshed.json() as { access_token: string; refresh_token: string };
    secrets.add(second.access_token).add(second.refresh_token);
    const bearer = { authorization: `Bearer ${second.access_token}` };

    await send(
      { method: 'POST', url: '/api/v1/auth/login', payload: { username: email, password: wrongPassword } },
      { status: 401, route: '/api/v1/auth/login' },
    );
    await send(
      { url: '/api/v1/auth/me', headers: { authorization: `Bearer ${forgedJwt}` } },
      { status: 401, route: '/api/v1/auth/me' },
    );
    await send(
      { url: '/api/v1/users', headers: { authorization: `Bearer ${garbageToken}` } },
      { status: 401, route: '/api/v1/users' },
    );

    const created = await send(
      {
        method: 'POST',
        url: '/api/v1/api-keys',
        headers: admin.headers,
        payload: { name: 'logs', scopes: ['users:read'] },
      },
      { status: 201, route: '/api/v1/api-keys', user_id: admin.user.id },
    );
    const key = created.json() as { id: string; secret: string };
    secrets.add(key.secret);
    await send(
      { url: '/api/v1/users', headers: { 'x-api-key': key.secret } },
      { status: 200, route: '/api/v1/users', api_key_id: key.id },
    );
    await send(
      { url: `/api/v1/users/${userId}`, headers: { authorization: `Bearer ${key.secret}` } },
      { status: 200, route: '/api/v1/users/:id', api_key_id: key.id },
    );

    await send(
      {
        method: 'POST',
        url: '/api/v1/auth/password',
        headers: bearer,
        payload: { current_password: password, new_password: newPassword },
      },
      { status: 204, route: '/api/v1/auth/password', user_id: userId },
    );

    await send(
      {
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { email: 'not-an-email', password: invalidBodyPassword },
      },
      { status: 422, route: '/api/v1/auth/register' },
    );

    const page = await send(
      { url: '/api/v1/users?limit=1&active_only=true', headers: admin.headers },
      { status: 200, route: '/api/v1/users', user_id: admin.user.id },
    );
    const cursor = (page.json() as { next_cursor: string | null }).next_cursor;
    assert.ok(cursor, 'a second page exists');
    await send(
      { url: `/api/v1/users?limit=1&active_only=true&after=${encodeURIComponent(cursor)}`, headers: admin.headers },
      { status: 200, route: '/api/v1/users', user_id: admin.user.id },
    );

    // A 500: the hasher fails with an error whose message and properties carry secrets (as a driver error can
    // carry its SQL and parameters). The error line must name the failure and carry none of them.
    const verify = t.hasher.verify.bind(t.hasher);
    t.hasher.verify = async (given: string) => {
      throw Object.assign(new Error(`hashing failed for Bearer ${second.access_token} and key ${key.secret}`), {
        code: 'E_TEST_FAILURE',
        sql: 'update users set hashed_password = $argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
        parameters: [given],
        body: { password: given },
      });
    };
    try {
      await send(
        { method: 'POST', url: '/api/v1/auth/login', payload: { username: email, password: crashPassword } },
        { status: 500, route: '/api/v1/auth/login' },
      );
    } finally {
      t.hasher.verify = verify;
    }

    await send(
      { method: 'POST', url: '/api/v1/auth/logout', headers: bearer },
      { status: 204, route: '/api/v1/auth/logout', user_id: userId },
    );

    const lines = raw.map((text) => JSON.parse(text) as Line);

    // No secret, hash or query string in any line.
    for (const text of raw) {
      for (const secret of secrets)
        assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 6)}...) leaked: ${text}`);
      assert.doesNotMatch(text, HASH, `a hash leaked: ${text}`);
      assert.ok(!text.includes(cursor), `the cursor leaked: ${text}`);
      assert.doesNotMatch(text, /[?&](after|limit|active_only)=/, `a query string leaked: ${text}`);
      assert.doesNotMatch(text, /"(authorization|x-api-key|cookie|body|payload|sql|parameters)"/i, text);
    }

    // Exactly one access line per request, saying what happened and who asked.
    const access = lines.filter((line) => line.msg === 'request');
    for (const [id, want] of expected) {
      const mine = access.filter((line) => line.reqId === id);
      assert.equal(mine.length, 1, `one access line for ${want.route} (${want.status}), got ${mine.length}`);
      const line = mine[0] as Line;
      assert.equal(line.level, 30);
      assert.equal(line.route, want.route);
      assert.equal(line.path, want.path);
      assert.equal(line.status, want.status);
      assert.equal(typeof line.duration_ms, 'number');
      assert.ok((line.duration_ms ?? -1) >= 0);
      assert.equal(line.ip, '127.0.0.1');
      assert.equal(line.user_id, want.user_id, `user_id of ${want.route} (${want.status})`);
      assert.equal(line.api_key_id, want.api_key_id, `api_key_id of ${want.route} (${want.status})`);
      assert.equal(line.method, want.method);
    }
    // Every access line belongs to a request the run sent (signUp's login included), none twice.
    const ids = access.map((line) => line.reqId);
    assert.equal(new Set(ids).size, ids.length, 'no request logged twice');
    assert.equal(access.length, expected.size + 1, 'the run plus the admin sign-in, nothing else');
    // Fastify's own per-request lines are off.
    assert.ok(!lines.some((line) => line.msg === 'incoming request' || line.msg === 'request completed'));

    // The 500 left one error line with the request id and the error's class, message (scrubbed) and code.
    const failures = lines.filter((line) => line.msg === 'unhandled error');
    assert.equal(failures.length, 1);
    const failure = failures[0] as Line;
    assert.equal(failure.level, 50);
    assert.ok(failure.reqId && expected.get(failure.reqId)?.status === 500, 'the error line names the failed request');
    assert.equal(failure.err?.type, 'Error');
    assert.equal(failure.err?.code, 'E_TEST_FAILURE');
    assert.match(String(failure.err?.message), /^hashing failed for Bearer \[REDACTED\] and key \[REDACTED\]$/);
    assert.deepEqual(Object.keys(failure.err ?? {}).sort(), ['code', 'message', 'stack', 'type']);
  });
});

describe('logger options', () => {
  it('LOG_FORMAT: pretty or json as asked; auto is pretty only on a terminal', async () => {
    assert.equal(prettyLogs('pretty'), true);
    assert.equal(prettyLogs('json'), false);
    assert.equal(prettyLogs('auto'), process.stdout.isTTY === true);
    assert.ok((await loggerOptions({ level: 'info', format: 'pretty' })).stream, 'pino-pretty stream');
    assert.equal((await loggerOptions({ level: 'info', format: 'json' })).stream, undefined, 'pino on stdout');
    const mixin = () => ({ trace_id: 't' });
    assert.equal((await loggerOptions({ level: 'info' }, { mixin })).mixin, mixin, 'the tracing mixin is passed on');
  });

  it('an error is logged as class, message, stack, code and cause only, credential shapes scrubbed', () => {
    const cause = Object.assign(new Error('driver said $2b$12$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0'), {
      parameters: ['secret'],
    });
    const error = Object.assign(new TypeError('usk_abcdef123 was refused', { cause }), { statusCode: 503, sql: 'x' });
    const logged = serializeError(error);
    assert.deepEqual(Object.keys(logged).sort(), ['cause', 'message', 'stack', 'statusCode', 'type']);
    assert.equal(logged.type, 'TypeError');
    assert.equal(logged.message, '[REDACTED] was refused');
    assert.deepEqual(Object.keys(logged.cause ?? {}).sort(), ['message', 'stack', 'type']);
    assert.equal(logged.cause?.message, 'driver said [REDACTED]');
    assert.deepEqual(serializeError('a string'), { type: 'string', message: 'a string' });
  });
});
