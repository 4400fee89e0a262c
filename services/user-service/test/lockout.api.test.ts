/**
 * Login protection through the API, on every database: 50 parallel wrong passwords lock the account (429 +
 * Retry-After, the right password refused too); an unknown user is answered exactly as a wrong password and
 * locked alike; the per-IP limit; the general rate limit on /api/v1/auth/*; common passwords refused with 422
 * at registration and password change.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { LightMyRequestResponse } from 'fastify';
import { COMMON_PASSWORD_MESSAGE } from '../src/users/password-rules.js';
import { emptyTables, openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const LOGIN = '/api/v1/auth/login';
const BAD_CREDENTIALS = { detail: 'Incorrect username or password' };

/**
 * The parts of an answer that could tell accounts apart: status, body and headers, but the per-request ones
 * and the per-IP rate-limit counters.
 */
function visible(response: LightMyRequestResponse) {
  const {
    date: _date,
    'x-request-id': _id,
    'x-ratelimit-remaining': _remaining,
    'x-ratelimit-reset': _reset,
    ...headers
  } = response.headers;
  return { status: response.statusCode, body: response.body, headers };
}

onEachDatabase('login lockout (API)', (tdb) => {
  describe('account and IP limits (defaults: 10 per account, 100 per IP, 15 min)', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb, {
        defaultCredentials: false,
        access: { login: { accountMaxFailures: 10, ipMaxFailures: 100, windowMinutes: 15 } },
      });
    });
    after(() => t.close());
    beforeEach(() => emptyTables(t.database));

    const login = (username: string, password: string, remoteAddress = '192.0.2.10') =>
      t.app.inject({ method: 'POST', url: LOGIN, payload: { username, password }, remoteAddress });

    it('50 parallel wrong passwords lock the account: the right password then gets 429 with Retry-After', async () => {
      const { user } = await t.signUp();
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => login(user.email, `wrong-password-${i}`, `192.0.2.${i + 1}`)),
      );
      for (const answer of answers) assert.ok([401, 429].includes(answer.statusCode), answer.body);
      assert.ok(answers.filter((a) => a.statusCode === 401).length >= 10);
      for (const answer of answers.filter((a) => a.statusCode === 401))
        assert.deepEqual(answer.json(), BAD_CREDENTIALS);

      const locked = await login(user.email, TEST_PASSWORD, '198.51.100.1');
      assert.equal(locked.statusCode, 429);
      assert.equal(locked.headers['retry-after'], String(15 * 60));
      assert.deepEqual(locked.json(), { detail: 'Too many failed login attempts; try again in 900 seconds' });
      // By username too (one account, however named), and from any IP.
      const upper = await login(user.email.toUpperCase(), TEST_PASSWORD, '198.51.100.2');
      assert.equal(upper.statusCode, 429);
    });

    it('an unknown user gets the same answer as a wrong password, and is locked alike', async () => {
      const { user } = await t.signUp();
      const unknown = await login('nobody@example.com', 'wrong-password', '192.0.2.20');
      const wrong = await login(user.email, 'wrong-password', '192.0.2.20');
      assert.equal(unknown.statusCode, 401);
      assert.deepEqual(unknown.json(), BAD_CREDENTIALS);
      assert.deepEqual(visible(unknown), visible(wrong));

      const more = await Promise.all(
        Array.from({ length: 12 }, () => login('nobody@example.com', 'wrong-password', '192.0.2.21')),
      );
      assert.ok(more.every((a) => [401, 429].includes(a.statusCode)));
      const unknownLocked = await login('nobody@example.com', 'wrong-password', '192.0.2.22');
      for (let i = 0; i < 9; i++) await login(user.email, 'wrong-password', '192.0.2.23');
      const knownLocked = await login(user.email, 'wrong-password', '192.0.2.22');
      assert.equal(unknownLocked.statusCode, 429);
      assert.deepEqual(visible(unknownLocked), visible(knownLocked));
    });

    it('a success resets the account counter', async () => {
      const { user } = await t.signUp();
      for (let i = 0; i < 9; i++) assert.equal((await login(user.email, 'wrong-password')).statusCode, 401);
      assert.equal((await login(user.email, TEST_PASSWORD)).statusCode, 200);
      for (let i = 0; i < 9; i++) assert.equal((await login(user.email, 'wrong-password')).statusCode, 401);
      assert.equal((await login(user.email, TEST_PASSWORD)).statusCode, 200);
    });
  });

  describe('per-IP limit', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb, {
        defaultCredentials: false,
        access: { login: { accountMaxFailures: 1000, ipMaxFailures: 5, windowMinutes: 15 } },
      });
    });
    after(() => t.close());

    it('refuses an IP after ipMaxFailures failures, whatever the account; other IPs still get in', async () => {
      const { user } = await t.signUp();
      const from = (ip: string, username: string, password: string) =>
        t.app.inject({ method: 'POST', url: LOGIN, payload: { username, password }, remoteAddress: ip });
      for (let i = 0; i < 5; i++) assert.equal((await from('203.0.113.5', `user${i}`, 'wrong-pass')).statusCode, 401);
      const refused = await from('203.0.113.5', user.email, TEST_PASSWORD);
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.headers['retry-after'], '900');
      assert.equal((await from('203.0.113.6', user.email, TEST_PASSWORD)).statusCode, 200);
    });
  });

  describe('general rate limit on /api/v1/auth/*', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb, { defaultCredentials: false, access: { authRateLimitPerMinute: 5 } });
    });
    after(() => t.close());

    it('answers 429 with Retry-After past the per-IP budget', async () => {
      const answers: LightMyRequestResponse[] = [];
      for (let i = 0; i < 6; i++) {
        answers.push(
          await t.app.inject({
            method: 'POST',
            url: LOGIN,
            payload: { username: 'someone', password: 'wrong-pass' },
            remoteAddress: '192.0.2.99',
          }),
        );
      }
      assert.deepEqual(
        answers.map((a) => a.statusCode),
        [401, 401, 401, 401, 401, 429],
      );
      const last = answers[5] as LightMyRequestResponse;
      const seconds = Number(last.headers['retry-after']);
      assert.ok(seconds >= 1 && seconds <= 60, String(last.headers['retry-after']));
      assert.deepEqual(last.json(), { detail: `Too many requests; try again in ${seconds} seconds` });
    });
  });

  describe('common passwords', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb, { defaultCredentials: false });
    });
    after(() => t.close());

    it('registration refuses a common password with 422 saying why', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { email: 'common@example.com', password: 'password123' },
      });
      assert.equal(response.statusCode, 422, response.body);
      assert.deepEqual(response.json(), {
        detail: [{ loc: ['body', 'password'], msg: COMMON_PASSWORD_MESSAGE, type: 'value_error' }],
      });
    });

    it('a password change refuses a common password with 422', async () => {
      const me = await t.signUp();
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password',
        headers: me.headers,
        payload: { current_password: TEST_PASSWORD, new_password: 'qwerty123' },
      });
      assert.equal(response.statusCode, 422, response.body);
      assert.match(response.body, /too common/);
    });
  });
});
