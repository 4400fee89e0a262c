/**
 * Load shedding with real requests over HTTP: while the event loop is held up, API requests are answered at once
 * with 503 + Retry-After in the {"detail": ...} shape and /health, /health/ready keep answering 200; once the loop
 * is free again, requests are served. A login flood beyond PASSWORD_HASH_QUEUE_MAX gets 503 + Retry-After
 * instead of queueing. The configuration readers refuse bad values.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { onEachDatabase } from '@user-service/data/testing';
import { ConfigError, loadConfig } from '../src/config.js';
import { openTestApp, type TestApp } from './support/test-app.js';

/** Blocks the event loop for `ms` (what a CPU-bound burst or a too-large JSON body does to a server). */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin
  }
}

onEachDatabase('overload', (tdb) => {
  describe('the event-loop guard', () => {
    let t: TestApp;
    let base: string;
    before(async () => {
      t = await openTestApp(tdb, {
        overload: { maxEventLoopDelayMs: 80, maxEventLoopUtilization: 0, sampleIntervalMs: 50 },
      });
      base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(() => t.close());

    it('answers 503 + Retry-After on API routes while the loop lags, keeps /health answering, then recovers', async () => {
      const headers = { 'x-api-key': t.apiKey };
      assert.equal((await fetch(`${base}/api/v1/users`, { headers })).status, 200);

      // A sustained lag: the loop is blocked 200 ms at a time, with a turn for I/O in between; requests still get turns.
      let hogging = true;
      const hog = (async () => {
        while (hogging) {
          busy(200);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      try {
        await sleep(400);
        const api = await fetch(`${base}/api/v1/users`, { headers });
        const health = await fetch(`${base}/health`);
        const ready = await fetch(`${base}/health/ready`);
        assert.equal(api.status, 503, await api.clone().text());
        assert.equal(api.headers.get('retry-after'), '2');
        assert.deepEqual(await api.json(), {
          detail: 'Service temporarily overloaded; retry after the Retry-After delay',
        });
        assert.ok(api.headers.get('x-request-id'), 'the usual headers are still there');
        assert.equal(health.status, 200);
        assert.equal(ready.status, 200, await ready.text());
      } finally {
        hogging = false;
        await hog;
      }
      // Free again: after a sample or two the API answers again.
      let status = 0;
      for (let i = 0; i < 80 && status !== 200; i++) {
        await sleep(50);
        status = (await fetch(`${base}/api/v1/users`, { headers })).status;
      }
      assert.equal(status, 200);
    });
  });

  describe('the OpenAPI document', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb);
    });
    after(() => t.close());

    it('documents the 503 wherever load shedding can answer it, and not on the health probes’ behalf', async () => {
      const doc = (await t.app.inject('/openapi.json')).json() as {
        paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
      };
      for (const [path, method] of [
        ['/api/v1/users', 'get'],
        ['/api/v1/auth/login', 'post'],
        ['/.well-known/jwks.json', 'get'],
      ] as const) {
        const answer = doc.paths[path]?.[method]?.responses['503'];
        assert.ok(answer, `${method} ${path} documents 503`);
        assert.match(answer.description, /overloaded/);
      }
      assert.equal(doc.paths['/health']?.get?.responses['503'], undefined);
    });
  });

  describe('the password hash queue', () => {
    let t: TestApp;
    let base: string;
    before(async () => {
      // One hash at a time, at most two waiting, each slow enough (~0.1 s) for the whole flood to arrive meanwhile.
      t = await openTestApp(tdb, { hash: { concurrency: 1, queueMax: 2, memoryKib: 8192, iterations: 40 } });
      base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(() => t.close());

    it('a login flood past PASSWORD_HASH_QUEUE_MAX gets 503 + Retry-After; the admitted logins are answered', async () => {
      const user = await t.signUp();
      const login = () =>
        fetch(`${base}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: user.user.email, password: 'vq7-Lantern-Orbit-92' }),
        });
      const answers = await Promise.all(Array.from({ length: 12 }, login));
      const statuses = answers.map((res) => res.status);
      const refused = answers.filter((res) => res.status === 503);
      assert.ok(refused.length >= 6, `most of the flood is refused: ${statuses}`);
      assert.ok(statuses.filter((s) => s === 200).length >= 1, `the admitted logins succeed: ${statuses}`);
      assert.deepEqual(
        statuses.filter((s) => s !== 200 && s !== 503),
        [],
      );
      for (const res of refused) {
        assert.equal(res.headers.get('retry-after'), '2');
        assert.deepEqual(await res.json(), {
          detail: 'Too many sign-ins in progress; retry after the Retry-After delay',
        });
      }
      // The flood is over: logins work again.
      assert.equal((await login()).status, 200);
    });
  });
});

describe('overload settings', () => {
  it('have defaults and refuse bad values with the variable named', () => {
    const config = loadConfig({});
    assert.deepEqual(config.overload, { maxEventLoopDelayMs: 200, maxEventLoopUtilization: 0 });
    assert.equal(config.passwordHash.queueMax, 256);
    assert.equal(config.passwordHash.queueMaxWaitMs, 5_000);
    assert.equal(config.shutdownTimeoutMs, 10_000);
    assert.equal(config.logFormat, 'auto');
    assert.deepEqual(
      loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MAX_EVENT_LOOP_UTILIZATION: '0.95' }).overload,
      { maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0.95 },
    );
    assert.throws(
      () => loadConfig({ OVERLOAD_MAX_EVENT_LOOP_UTILIZATION: '1.5' }),
      /OVERLOAD_MAX_EVENT_LOOP_UTILIZATION must be a number between 0 and 1, got "1.5"/,
    );
    assert.throws(() => loadConfig({ OVERLOAD_MAX_EVENT_LOOP_UTILIZATION: 'high' }), ConfigError);
    assert.throws(
      () => loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '-1' }),
      /OVERLOAD_MAX_EVENT_LOOP_DELAY_MS must be an integer/,
    );
    assert.throws(
      () => loadConfig({ PASSWORD_HASH_QUEUE_MAX: '0' }),
      /PASSWORD_HASH_QUEUE_MAX must be an integer between 1/,
    );
    assert.throws(
      () => loadConfig({ PASSWORD_HASH_QUEUE_MAX_WAIT_MS: '50' }),
      /PASSWORD_HASH_QUEUE_MAX_WAIT_MS must be an integer between 100/,
    );
    assert.throws(() => loadConfig({ SHUTDOWN_TIMEOUT_MS: '10s' }), /SHUTDOWN_TIMEOUT_MS must be an integer/);
    assert.throws(() => loadConfig({ LOG_FORMAT: 'xml' }), /LOG_FORMAT must be one of json, pretty, auto, got "xml"/);
  });
});
