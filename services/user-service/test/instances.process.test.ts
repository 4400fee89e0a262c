/**
 * Many instances as one (issue 12): two service instances, each `npm start`'s command with WORKERS=2 on a port
 * of its own, over one PostgreSQL database (and, in the second run, one Redis: REDIS_URL). Requests go out on
 * fresh connections, so each instance's cluster hands them to both of its workers. What one instance does holds
 * on the other at its next request: a user created on A is read on B, a list continued on B from A's cursor,
 * a logout on A refuses the token on B, a password change on B ends the sessions used on A, failed logins on
 * both count toward one lockout, and a change made on A is read on B at once (whatever B has cached).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServerDatabase, type ServerDatabase, serverReachable } from '@user-service/data/testing';
import { send } from './support/fresh-connection.js';
import { childrenOf, killAll, type Running, SERVICE_DIR, startService } from './support/processes.js';
import { parseMetrics, total } from './support/prometheus.js';
import { PrivateRedis, redisServerUnavailable } from './support/redis-server.js';

const API = '/api/v1';
const METRICS_TOKEN = 'instances-metrics-token-instances-metrics';
const ADMIN = { email: 'first-admin@example.com', password: 'Granite-Compass-Willow-83' };
const PASSWORD = 'Saffron-Glacier-Ember-47';
const SECRET = 'instances-test-secret-instances-test-secret';
/** Requests per check: fresh connections spread over both workers of an instance. */
const ROUNDS = 8;
const MAX_FAILURES = 4;

async function login(base: string, username: string, password: string): Promise<string> {
  const res = await send(base, 'POST', `${API}/auth/login`, { body: { username, password } });
  assert.equal(res.status, 200, res.body);
  return (JSON.parse(res.body) as { access_token: string }).access_token;
}

async function statuses(base: string, token: string, path = `${API}/users/me`): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) out.push((await send(base, 'GET', path, { token })).status);
  return out;
}

const every = (status: number) => Array.from({ length: ROUNDS }, () => status);

const postgres = await serverReachable('postgres');
if (postgres !== true && process.env.CI === 'true') throw new Error(`PostgreSQL must be reachable on CI: ${postgres}`);

/**
 * One run of the suite. `setUp` gives the instances' extra environment (and may start what they need);
 * `withRedis`: the cache must actually serve (checked on the metrics), so coherence is not vacuous.
 */
function describeInstances(
  label: string,
  setUp: () => Promise<Record<string, string>>,
  tearDown: () => Promise<void>,
  withRedis: boolean,
  missing?: string,
): void {
  describe(`two instances as one (${label})`, {
    skip: postgres === true ? (missing ?? false) : String(postgres),
    concurrency: 1,
  }, () => {
    let server: ServerDatabase;
    const instances: Running[] = [];
    const pids = new Set<number>();
    const [a, b] = [() => instances[0]!.base, () => instances[1]!.base];

    before(async () => {
      server = await createServerDatabase('postgres', { prefix: 'us_instances' });
      const env = {
        WORKERS: '2',
        DATABASE_URL: server.url,
        DB_CONNECT_ATTEMPTS: '1',
        MIGRATE_ON_START: 'true',
        JWT_SECRET: SECRET,
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
        AUTH_RATE_LIMIT_PER_MINUTE: '100000',
        LOGIN_MAX_FAILURES: String(MAX_FAILURES),
        METRICS_TOKEN,
        ...(await setUp()),
      };
      // Both start at once: migrations and the first superuser race, as two instances deployed together do.
      const started = await Promise.all(
        [0, 1].map(() =>
          startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
            cwd: SERVICE_DIR,
            timeoutMs: 90_000,
            env,
          }),
        ),
      );
      instances.push(...started);
      for (const running of started) {
        pids.add(running.child.pid ?? 0);
        for (const pid of childrenOf(running.child.pid ?? 0)) pids.add(pid);
      }
    });

    after(async () => {
      for (const running of instances) {
        for (const pid of childrenOf(running.child.pid ?? 0)) pids.add(pid);
        running.child.kill('SIGTERM');
      }
      await Promise.race([
        Promise.all(instances.map((r) => r.exited)),
        new Promise((resolve) => setTimeout(resolve, 5_000)),
      ]);
      killAll(pids);
      await server?.drop();
      await tearDown();
    });

    it('starts both over one database; the first superuser exists once and signs in on both', async () => {
      assert.notEqual(a(), b());
      const admin = await login(a(), ADMIN.email, ADMIN.password);
      assert.deepEqual(await statuses(b(), admin), every(200), 'a token from A holds on B');
      const found = await send(b(), 'GET', `${API}/users/search?q=first-admin`, { token: admin });
      assert.equal(found.status, 200, found.body);
      assert.equal((JSON.parse(found.body) as { total: number }).total, 1);
      for (const running of instances) assert.doesNotMatch(running.output(), new RegExp(ADMIN.password));
    });

    it('a user created on A is read on B by id, email and username; a list continues on B from A’s cursor', async () => {
      const admin = await login(a(), ADMIN.email, ADMIN.password);
      const created: { id: string }[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await send(a(), 'POST', `${API}/users`, {
          token: admin,
          body: { email: `made-on-a-${i}@example.com`, password: PASSWORD, username: `made_on_a_${i}` },
        });
        assert.equal(res.status, 201, res.body);
        created.push(JSON.parse(res.body) as { id: string });
      }
      const adminB = await login(b(), ADMIN.email, ADMIN.password);
      assert.deepEqual(await statuses(b(), adminB, `${API}/users/${created[0]!.id}`), every(200));
      assert.deepEqual(await statuses(b(), adminB, `${API}/users/email/made-on-a-1@example.com`), every(200));
      assert.deepEqual(await statuses(b(), adminB, `${API}/users/by_username/made_on_a_2`), every(200));
      const page = await send(a(), 'GET', `${API}/users?limit=2`, { token: admin });
      const cursor = (JSON.parse(page.body) as { next_cursor: string }).next_cursor;
      assert.ok(cursor, page.body);
      const next = await send(b(), 'GET', `${API}/users?limit=2&after=${encodeURIComponent(cursor)}`, {
        token: adminB,
      });
      assert.equal(next.status, 200, next.body);
      assert.equal((JSON.parse(next.body) as { users: unknown[] }).users.length, 2);
    });

    it('a change made on A is read on B at once, also after B read (and may have cached) the old value', async () => {
      const admin = await login(a(), ADMIN.email, ADMIN.password);
      const res = await send(a(), 'POST', `${API}/users`, {
        token: admin,
        body: { email: 'coherent@example.com', password: PASSWORD, full_name: 'Old Name' },
      });
      const { id } = JSON.parse(res.body) as { id: string };
      for (let i = 0; i < ROUNDS; i++) {
        const read = await send(b(), 'GET', `${API}/users/${id}`, { token: admin });
        assert.equal((JSON.parse(read.body) as { full_name: string }).full_name, 'Old Name');
        await send(b(), 'GET', `${API}/users/email/coherent@example.com`, { token: admin });
      }
      const patched = await send(a(), 'PATCH', `${API}/users/${id}`, {
        token: admin,
        body: { full_name: 'New Name', email: 'coherent-2@example.com' },
      });
      assert.equal(patched.status, 200, patched.body);
      for (let i = 0; i < ROUNDS; i++) {
        const read = await send(b(), 'GET', `${API}/users/${id}`, { token: admin });
        assert.equal((JSON.parse(read.body) as { full_name: string }).full_name, 'New Name', `read ${i} on B`);
      }
      assert.deepEqual(await statuses(b(), admin, `${API}/users/email/coherent@example.com`), every(404));
      assert.deepEqual(await statuses(b(), admin, `${API}/users/email/coherent-2@example.com`), every(200));
      if (withRedis) {
        // B really served these from Redis (hits), so what B read after A's change was coherent, not uncached.
        // The cluster's sum is gathered from both workers; on a loaded machine that can time out (503): retry.
        let page = '';
        for (let attempt = 0; attempt < 10; attempt++) {
          const metrics = await fetch(`${b()}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
          page = await metrics.text();
          if (metrics.status === 200) break;
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
        const samples = parseMetrics(page);
        assert.ok(total(samples, 'user_cache_lookups_total', { kind: 'id', result: 'hit' }) > 0, page);
        assert.ok(total(samples, 'user_cache_lookups_total', { kind: 'session', result: 'hit' }) > 0, page);
      }
      const deleted = await send(a(), 'DELETE', `${API}/users/${id}`, { token: admin });
      assert.equal(deleted.status, 204, deleted.body);
      assert.deepEqual(await statuses(b(), admin, `${API}/users/${id}`), every(404));
    });

    it('a logout on A refuses the token on B at the next request; a password change on B ends sessions used on A', async () => {
      const admin = await login(a(), ADMIN.email, ADMIN.password);
      const email = 'sessions@example.com';
      assert.equal(
        (await send(a(), 'POST', `${API}/users`, { token: admin, body: { email, password: PASSWORD } })).status,
        201,
      );
      const session = await login(a(), email, PASSWORD);
      assert.deepEqual(await statuses(b(), session), every(200));
      const out = await send(a(), 'POST', `${API}/auth/logout`, { token: session });
      assert.equal(out.status, 204, out.body);
      assert.deepEqual(await statuses(b(), session), every(401));

      const onA = await login(a(), email, PASSWORD);
      const onB = await login(b(), email, PASSWORD);
      assert.deepEqual(await statuses(a(), onA), every(200));
      const changed = await send(b(), 'POST', `${API}/auth/password`, {
        token: onB,
        body: { current_password: PASSWORD, new_password: 'Walnut-Prairie-Comet-19' },
      });
      assert.equal(changed.status, 204, changed.body);
      assert.deepEqual(await statuses(a(), onA), every(401), 'ended on A');
      assert.deepEqual(await statuses(a(), onB), every(200), 'the changing session stays, on A too');
    });

    it('failed logins on both instances count toward one lockout', async () => {
      const admin = await login(a(), ADMIN.email, ADMIN.password);
      const email = 'lockout@example.com';
      assert.equal(
        (await send(a(), 'POST', `${API}/users`, { token: admin, body: { email, password: PASSWORD } })).status,
        201,
      );
      for (let i = 0; i < MAX_FAILURES; i++) {
        const base = i % 2 === 0 ? a() : b();
        const res = await send(base, 'POST', `${API}/auth/login`, {
          body: { username: email, password: 'wrong-Password-1' },
        });
        assert.equal(res.status, 401, res.body);
      }
      for (const base of [a(), b()]) {
        const res = await send(base, 'POST', `${API}/auth/login`, { body: { username: email, password: PASSWORD } });
        assert.equal(res.status, 429, `locked on ${base} although half the failures were on the other instance`);
      }
    });
  });
}

describeInstances(
  'database only',
  async () => ({}),
  async () => {},
  false,
);

const redisUnavailable = redisServerUnavailable();
if (redisUnavailable && process.env.CI === 'true') throw new Error(`redis-server must run on CI: ${redisUnavailable}`);
let redis: PrivateRedis | undefined;
// Without redis-server (outside CI) the run is reported as skipped, not left out.
describeInstances(
  'with Redis',
  async () => {
    redis = await PrivateRedis.start();
    return { REDIS_URL: redis.url };
  },
  async () => redis?.stop(),
  true,
  redisUnavailable,
);
