/**
 * CORS_ORIGINS on each database: off by default (no CORS header on any answer, preflight included); with a list
 * of origins, a listed origin's preflight is answered before authentication and its answers carry
 * Access-Control-Allow-Origin (that origin) and -Credentials; an origin not listed gets no CORS header at all;
 * `*` lets any origin read, without credentials. The setting refuses what is not an origin.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../src/config.js';
import { openTestApp, type TestApp } from './support/test-app.js';

const APP = 'https://app.example.com';
const OTHER = 'https://evil.example.net';

const corsHeaders = (res: LightMyRequestResponse) =>
  Object.keys(res.headers).filter((name) => name.startsWith('access-control-'));

const preflight = (t: TestApp, origin: string, url = '/api/v1/users') =>
  t.app.inject({
    method: 'OPTIONS',
    url,
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });

onEachDatabase('CORS', (tdb) => {
  describe('without CORS_ORIGINS', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb);
    });
    after(() => t.close());

    it('no answer carries a CORS header, and a preflight is not answered as one', async () => {
      const res = await t.app.inject({ url: '/api/v1/users', headers: { origin: APP } });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(corsHeaders(res), []);
      const pre = await preflight(t, APP);
      assert.deepEqual(corsHeaders(pre), []);
      assert.notEqual(pre.statusCode, 204);
    });
  });

  describe('with CORS_ORIGINS listing an origin', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb, { defaultCredentials: false, corsOrigins: [APP, 'http://localhost:5173'] });
    });
    after(() => t.close());

    it('answers a listed origin’s preflight without credentials, with credentials allowed', async () => {
      const pre = await preflight(t, APP);
      assert.equal(pre.statusCode, 204, pre.body);
      assert.equal(pre.headers['access-control-allow-origin'], APP);
      assert.equal(pre.headers['access-control-allow-credentials'], 'true');
      assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
      assert.match(String(pre.headers['access-control-allow-headers']), /authorization/);
      assert.match(String(pre.headers.vary), /Origin/);
      // Also on a path with parameters, and on the public login.
      assert.equal((await preflight(t, 'http://localhost:5173', '/api/v1/users/abc/personas')).statusCode, 204);
      assert.equal((await preflight(t, APP, '/api/v1/auth/login')).statusCode, 204);
    });

    it('a listed origin’s answers carry Allow-Origin and Allow-Credentials, errors included', async () => {
      const anonymous = await t.app.inject({ url: '/api/v1/users', headers: { origin: APP } });
      assert.equal(anonymous.statusCode, 401);
      assert.equal(anonymous.headers['access-control-allow-origin'], APP);
      assert.equal(anonymous.headers['access-control-allow-credentials'], 'true');
      assert.match(String(anonymous.headers['access-control-expose-headers']), /x-request-id/);
      assert.match(String(anonymous.headers['access-control-expose-headers']), /traceresponse/);
      const ok = await t.app.inject({ url: '/api/v1/users', headers: { origin: APP, 'x-api-key': t.apiKey } });
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.headers['access-control-allow-origin'], APP);
    });

    it('an origin not listed gets no CORS header at all, preflight or not', async () => {
      const pre = await preflight(t, OTHER);
      assert.deepEqual(corsHeaders(pre), [], JSON.stringify(pre.headers));
      assert.notEqual(pre.statusCode, 204);
      const res = await t.app.inject({ url: '/api/v1/users', headers: { origin: OTHER, 'x-api-key': t.apiKey } });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(corsHeaders(res), []);
      // A near miss is not a match: another scheme, port or a suffix.
      for (const origin of ['http://app.example.com', `${APP}:8443`, `${APP}.evil.net`, 'null']) {
        assert.deepEqual(corsHeaders(await preflight(t, origin)), [], origin);
      }
    });

    it('requests without an Origin (not from a browser) are served as before', async () => {
      const res = await t.app.inject({ url: '/health' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(corsHeaders(res), []);
    });
  });

  describe('with CORS_ORIGINS=*', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb, { corsOrigins: '*' });
    });
    after(() => t.close());

    it('any origin may read, never with credentials', async () => {
      const res = await t.app.inject({ url: '/api/v1/users', headers: { origin: OTHER } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
      const pre = await preflight(t, OTHER);
      assert.equal(pre.statusCode, 204);
      assert.equal(pre.headers['access-control-allow-origin'], '*');
    });
  });
});

describe('CORS_ORIGINS', () => {
  it('is empty by default, takes * or exact origins, and refuses anything else naming the variable', () => {
    assert.deepEqual(loadConfig({}).corsOrigins, []);
    assert.equal(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins, '*');
    assert.deepEqual(loadConfig({ CORS_ORIGINS: ` ${APP} , http://localhost:5173` }).corsOrigins, [
      APP,
      'http://localhost:5173',
    ]);
    for (const bad of [`${APP}/`, `${APP}/path`, 'app.example.com', 'ftp://files.example.com', `*, ${APP}`]) {
      assert.throws(() => loadConfig({ CORS_ORIGINS: bad }), /CORS_ORIGINS must be \* or a comma-separated list/, bad);
    }
  });
});
