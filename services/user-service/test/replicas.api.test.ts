/**
 * The service over a PostgreSQL primary and a real streaming replica (both private clusters made by the test,
 * testing/private-postgres.ts), with replication lag made visible (recovery_min_apply_delay): a client reads
 * its own writes through the API (X-Consistency-Token, or remembered for its key/session), other clients'
 * reads are served by the replica (they see the lag), and the service keeps answering when the replica stops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PrivatePostgres, privatePostgresUnavailable, sleep, until } from '@user-service/data/testing';
import type { LightMyRequestResponse } from 'fastify';
import { SCOPES } from '../src/access/principal.js';
import { ApiKeyService } from '../src/api-keys/api-key.service.js';
import { killAll, SERVICE_DIR, startService } from './support/processes.js';
import { PrivateRedis, redisServerUnavailable } from './support/redis-server.js';
import { openTestApp, type TestApp } from './support/test-app.js';

const unavailable = await privatePostgresUnavailable();
if (unavailable && process.env.CI === 'true') throw new Error(`replica tests must run on CI: ${unavailable}`);

const TOKEN = 'x-consistency-token';
const LAG_MS = 2000;
const METRICS_TOKEN = 'replica-metrics-token';

describe('users API over a primary and a read replica', { skip: unavailable }, () => {
  let primary: PrivatePostgres;
  let replica: PrivatePostgres;
  let t: TestApp;
  /** A second client: its own API key, so nothing the first one wrote is remembered for it. */
  let otherKey: string;

  before(async () => {
    primary = new PrivatePostgres();
    await primary.init();
    await primary.start();
    replica = await PrivatePostgres.replicaOf(primary, { applyDelayMs: 0 });
    t = await openTestApp(
      { kind: 'postgres', url: primary.url },
      { replicaUrls: [replica.url], metrics: { token: METRICS_TOKEN } },
    );
    otherKey = (await new ApiKeyService(t.database).create({ name: 'other client', scopes: [...SCOPES] }, null)).secret;
    // The replica has replayed the migrations and the keys before lag is switched on.
    await until('replica caught up', async () => {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/v1/users?limit=1',
        headers: { 'x-api-key': otherKey },
      });
      return res.statusCode === 200 && t.database.replicaStatus()[0]?.healthy === true;
    });
    await replica.setApplyDelay(LAG_MS);
    await sleep(300);
  });

  after(async () => {
    await t?.close();
    await replica?.destroy();
    await primary?.destroy();
  });

  const replicaReads = () => t.database.replicaStatus()[0]!.reads;
  const asOther = (url: string) => t.app.inject({ method: 'GET', url, headers: { 'x-api-key': otherKey } });

  test('write then read: the writer sees its write at once, other clients read the lagging replica', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'ryw@example.com', password: 'vq7-Lantern-Orbit-92', full_name: 'Before' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const token = created.headers[TOKEN];
    assert.equal(typeof token, 'string', 'a write answers with a consistency token');
    const { id } = created.json() as { id: string };

    // With its token, from any client: the write is there (served by the primary while the replica lags).
    const before = replicaReads();
    const mine = await t.app.inject({
      method: 'GET',
      url: `/api/v1/users/${id}`,
      headers: { [TOKEN]: token as string },
    });
    assert.equal(mine.statusCode, 200, mine.body);
    assert.equal(replicaReads(), before, 'served by the primary');
    // Without the header, the same API key is remembered by this process: still its own write.
    const remembered = await t.app.inject({ method: 'GET', url: `/api/v1/users/email/ryw@example.com` });
    assert.equal(remembered.statusCode, 200, remembered.body);

    // Another client reads the replica, which has not replayed the write yet: 404 (the lag is real).
    const other = await asOther(`/api/v1/users/${id}`);
    assert.equal(other.statusCode, 404, 'the other client reads the replica, which lags');
    assert.equal(replicaReads(), before + 1, 'served by the replica');
    assert.equal(other.headers[TOKEN], undefined, 'a read gets no token');

    // An update: the writer sees the new name, the other client the old one until the replica replays it.
    await until('the replica to show the user', async () => (await asOther(`/api/v1/users/${id}`)).statusCode === 200);
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${id}`,
      payload: { full_name: 'After' },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const patchToken = patched.headers[TOKEN] as string;
    const fresh = await t.app.inject({
      method: 'GET',
      url: `/api/v1/users/${id}`,
      headers: { 'x-api-key': otherKey, [TOKEN]: patchToken },
    });
    assert.equal(
      (fresh.json() as { full_name: string }).full_name,
      'After',
      'the token holds for any client that sends it',
    );
    assert.equal(
      (((await asOther(`/api/v1/users/${id}`)) as LightMyRequestResponse).json() as { full_name: string }).full_name,
      'Before',
    );
    await until(
      'replay of the update',
      async () => ((await asOther(`/api/v1/users/${id}`)).json() as { full_name: string }).full_name === 'After',
    );
  });

  test('lists and searches go to the replica; a forged token goes to the primary and is not an error', async () => {
    const before = replicaReads();
    assert.equal((await asOther('/api/v1/users?limit=5')).statusCode, 200);
    assert.equal((await asOther('/api/v1/users/search?q=ryw')).statusCode, 200);
    assert.ok(replicaReads() >= before + 2, `${replicaReads()} vs ${before}`);
    const forged = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users?limit=5',
      headers: { 'x-api-key': otherKey, [TOKEN]: 'zzzzzzzz.AAAAAAAAAAAAAAAA' },
    });
    assert.equal(forged.statusCode, 200, forged.body);
    const afterForged = replicaReads();
    await t.app.inject({
      method: 'GET',
      url: '/api/v1/users?limit=5',
      headers: { 'x-api-key': otherKey, [TOKEN]: 'x'.repeat(5000) },
    });
    assert.equal(replicaReads(), afterForged);
  });

  test('metrics show the replica in rotation, its lag and the reads it served', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /^db_replica_up\{replica="0"\} 1$/m);
    assert.match(res.body, /^db_replica_lag_seconds\{replica="0"\} [0-9.e-]+$/m);
    const reads = Number(/^db_replica_reads_total\{replica="0"\} (\d+)$/m.exec(res.body)?.[1]);
    assert.equal(reads, replicaReads());
    assert.ok(reads > 0);
  });

  test('a signed-in user reads their own change through /users/me after PATCH /users/me', async () => {
    const me = await t.signUp();
    const patched = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: me.headers,
      payload: { full_name: 'Mine' },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    // No header sent back: the session is remembered by this process.
    const read = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: me.headers });
    assert.equal((read.json() as { full_name: string }).full_name, 'Mine');
  });

  test('with REDIS_URL, a key that wrote on one instance reads its write on another without the header', async (c) => {
    const missing = redisServerUnavailable();
    if (missing && process.env.CI === 'true') throw new Error(missing);
    if (missing) {
      // Reported as skipped, not passed.
      c.skip(missing);
      return;
    }
    const redis = await PrivateRedis.start();
    // CACHE_TTL_MS=0: Redis for limits and positions only, so lookups by id really go to the replica.
    const options = { replicaUrls: [replica.url], redis: { url: redis.url, cacheTtlMs: 0 } };
    const a = await openTestApp({ kind: 'postgres', url: primary.url }, options);
    const b = await openTestApp({ kind: 'postgres', url: primary.url }, options);
    const withoutRedis = await openTestApp({ kind: 'postgres', url: primary.url }, { replicaUrls: [replica.url] });
    try {
      await until('replicas in rotation', () =>
        [a, b, withoutRedis].every((x) => x.database.replicaStatus()[0]?.healthy === true),
      );
      const key = { 'x-api-key': a.apiKey };
      const created = await a.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: key,
        payload: { email: 'shared-position@example.com', password: 'vq7-Lantern-Orbit-92' },
      });
      assert.equal(created.statusCode, 201, created.body);
      const { id } = created.json() as { id: string };
      // B never served this key: it finds the position in Redis and reads the primary (the replica lags).
      const onB = await b.app.inject({ method: 'GET', url: `/api/v1/users/${id}`, headers: key });
      assert.equal(onB.statusCode, 200, 'read-your-writes across instances through Redis');
      // The control: an instance without Redis knows nothing of the write and reads the lagging replica.
      const control = await withoutRedis.app.inject({ method: 'GET', url: `/api/v1/users/${id}`, headers: key });
      assert.equal(control.statusCode, 404, 'without the shared position the replica, which lags, answers');
      // What Redis holds is a signed token (a position), under the key's id: no secret.
      const { Redis } = await import('ioredis');
      const client = new Redis(redis.url);
      const keys = await client.keys('us:w:*');
      const values = await Promise.all(keys.map((k) => client.get(k)));
      await client.quit();
      assert.equal(keys.length, 1, JSON.stringify(keys));
      assert.doesNotMatch(`${keys.join()} ${values.join()}`, new RegExp(a.apiKey.slice(4)));
    } finally {
      await a.close();
      await b.close();
      await withoutRedis.close();
      await redis.stop();
    }
  });

  test('stopping the replica keeps the service answering; it rejoins when it is back', async () => {
    await replica.setApplyDelay(0);
    await replica.stop();
    for (let i = 0; i < 10; i++) {
      const res = await asOther('/api/v1/users?limit=5');
      assert.equal(res.statusCode, 200, res.body);
    }
    await until('out of rotation', () => t.database.replicaStatus()[0]?.healthy === false);
    await replica.start();
    await until('back in rotation', () => t.database.replicaStatus()[0]?.healthy === true, 30_000);
    const before = replicaReads();
    assert.equal((await asOther('/api/v1/users?limit=5')).statusCode, 200);
    assert.ok(replicaReads() > before, 'the replica serves reads again');
  });
  test('npm start with DATABASE_REPLICA_URLS: the banner lists the replica, a write answers with a token that reads it back', async () => {
    // A password in the replica URL (trust auth ignores it) must not be printed.
    const replicaUrl = replica.url.replace('postgres@', 'postgres:Replica-Secret-91@');
    const running = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
      cwd: SERVICE_DIR,
      timeoutMs: 60_000,
      env: {
        WORKERS: '1',
        DATABASE_URL: primary.url,
        DATABASE_REPLICA_URLS: replicaUrl,
        DB_CONNECT_ATTEMPTS: '1',
        LOG_LEVEL: 'info',
        JWT_SECRET: 'replica-process-test-secret-replica-process',
        FIRST_SUPERUSER_EMAIL: 'replica-admin@example.com',
        FIRST_SUPERUSER_PASSWORD: 'Granite-Compass-Willow-83',
      },
    });
    try {
      assert.match(
        running.output(),
        /replicas: postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres \(in rotation\)/,
      );
      const login = await fetch(`${running.base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'replica-admin@example.com', password: 'Granite-Compass-Willow-83' }),
      });
      assert.equal(login.status, 200);
      const auth = { authorization: `Bearer ${((await login.json()) as { access_token: string }).access_token}` };
      const created = await fetch(`${running.base}/api/v1/users`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'via-process@example.com', password: 'vq7-Lantern-Orbit-92' }),
      });
      assert.equal(created.status, 201);
      const token = created.headers.get(TOKEN);
      assert.ok(token, 'the write answered with X-Consistency-Token');
      const { id } = (await created.json()) as { id: string };
      const read = await fetch(`${running.base}/api/v1/users/${id}`, { headers: { ...auth, [TOKEN]: token } });
      assert.equal(read.status, 200);
      assert.doesNotMatch(running.output(), /Replica-Secret-91/);
    } finally {
      running.child.kill('SIGTERM');
      await Promise.race([running.exited, sleep(5_000)]);
      if (running.child.pid) killAll([running.child.pid]);
    }
  });
});
