/**
 * Fault suite: the real service (`node scripts/start.mjs`, two workers) on a PostgreSQL cluster of the test's
 * own, under a write load, while that database is (a) stopped, (b) killed, (c) frozen. A ledger of every
 * request checks that the service answers 503 + Retry-After meanwhile (never a 500, never a hang past its
 * timeouts), that every acknowledged 201 is readable afterwards, and that it serves again within 2 s of the
 * database being back; one worker is SIGKILLed during the first outage and the service serves on.
 *
 * Needs root and PostgreSQL 15's initdb/pg_ctl; without them it reports itself skipped, except with CI=true.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { PrivatePostgres, privatePostgresUnavailable } from '@user-service/data/testing';
import {
  childrenOf,
  commandOf,
  killAll,
  type Running,
  SERVICE_DIR,
  sleep,
  startService,
  waitFor,
} from './support/processes.js';
import { duration, type Outcome, percentile, WriteLoad } from './support/write-load.js';

const QUERY_TIMEOUT_MS = 2_000;
const POOL_TIMEOUT_MS = 2_000;
/** The longest a request may take while the database is away: waiting for a connection, then one query. */
const BOUND_MS = QUERY_TIMEOUT_MS + POOL_TIMEOUT_MS + 1_500;
const RECOVERY_MS = 2_000;
const READY_BOUND_MS = 2_000 + 1_000;

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const unavailable = await privatePostgresUnavailable();

const round = (ms: number) => Math.round(ms);

describe('faults: a PostgreSQL of its own stopped, killed and frozen under write load', { timeout: 180_000 }, () => {
  let pg: PrivatePostgres | undefined;
  let service: Running | undefined;
  let load: WriteLoad | undefined;
  const spawned = new Set<number>();
  /** Times (performance.now()) at which a worker was SIGKILLed: requests in flight on it may lose their socket. */
  const workerKills: number[] = [];

  const skipOrFail = (t: TestContext): boolean => {
    if (!unavailable) return false;
    if (inCi) throw new Error(`${unavailable}: CI=true requires the fault suite to run`);
    t.skip(unavailable);
    return true;
  };

  before(async () => {
    if (unavailable) return;
    pg = new PrivatePostgres();
    await pg.init();
    await pg.start();
    service = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
      cwd: SERVICE_DIR,
      timeoutMs: 60_000,
      env: {
        DATABASE_URL: pg.url,
        MIGRATE_ON_START: 'true',
        WORKERS: '2',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'error',
        JWT_SECRET: 'fault-suite-secret-fault-suite-secret',
        PASSWORD_HASH_MEMORY_KIB: '8192',
        PASSWORD_HASH_ITERATIONS: '1',
        DB_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
        DB_POOL_TIMEOUT_MS: String(POOL_TIMEOUT_MS),
        // A replacement worker started during an outage fails at once instead of retrying for seconds.
        DB_CONNECT_ATTEMPTS: '1',
        // The load registers users (a public write) far faster than the per-IP limit on /auth/* allows.
        AUTH_RATE_LIMIT_PER_MINUTE: '1000000',
        // Reads the writes back as this superuser.
        FIRST_SUPERUSER_EMAIL: 'fault-admin@example.com',
        FIRST_SUPERUSER_PASSWORD: 'fault-Admin-pass-4412',
      },
    });
    spawned.add(service.child.pid ?? 0);
    assert.ok(await waitFor(() => /all 2 workers listening/.test(service?.output() ?? ''), 30_000), service.output());
    load = new WriteLoad(service.base, 3, BOUND_MS + 10_000);
    load.start();
    await sleep(1_500);
  });

  after(async () => {
    await load?.stop().catch(() => {});
    if (service?.child.pid) {
      const primary = service.child.pid;
      for (const pid of childrenOf(primary)) spawned.add(pid);
      service.child.kill('SIGTERM');
      await Promise.race([service.exited, sleep(10_000)]);
    }
    killAll(spawned);
    await pg?.destroy();
  });

  /** The ledger's view of one outage: requests that ended after `from` and started before `to`. */
  const window = (from: number, to: number) => (load?.outcomes ?? []).filter((o) => o.end >= from && o.start <= to);

  /**
   * Takes the database away with `breakIt`, keeps it away `holdMs` (running `during` meanwhile), brings it back
   * with `restore`, lets the load run on, then checks the outage in the ledger.
   */
  async function outage(
    t: TestContext,
    name: string,
    steps: {
      breakIt: () => Promise<void> | void;
      restore: () => Promise<void> | void;
      holdMs: number;
      during?: () => Promise<void>;
    },
  ): Promise<void> {
    assert.ok(pg && service && load);
    const brokeAt = performance.now();
    await steps.breakIt();
    const duringDone = steps.during?.();
    await sleep(steps.holdMs);
    await duringDone;
    await steps.restore();
    const backAt = performance.now();
    await sleep(RECOVERY_MS + 2_000);
    const seen = window(brokeAt, performance.now());
    const during = seen.filter((o) => o.start < backAt);
    const unavailable503 = during.filter((o) => o.status === 503);
    const afterBack = seen.filter((o) => o.end >= backAt);
    const firstOk = afterBack.filter((o) => o.status === 201).sort((a, b) => a.end - b.end)[0];
    const late = seen.filter((o) => o.start >= backAt + RECOVERY_MS && o.status !== 201);
    t.diagnostic(
      `${name}: ${during.length} requests while away (${unavailable503.length} x 503, 503 p50 ${round(
        percentile(unavailable503.map(duration), 50),
      )} ms, max ${round(Math.max(0, ...unavailable503.map(duration)))} ms); first 201 ${
        firstOk ? round(firstOk.end - backAt) : 'never'
      } ms after the database was back`,
    );
    assert.ok(unavailable503.length > 0, `${name}: the outage was visible as 503s`);
    assert.ok(
      firstOk && firstOk.end - backAt <= RECOVERY_MS,
      `${name}: a 201 within ${RECOVERY_MS} ms of the database being back`,
    );
    assert.deepEqual(
      late.map((o) => `${o.status} ${o.error ?? o.body}`),
      [],
      `${name}: every request started ${RECOVERY_MS} ms after the database was back succeeded`,
    );
  }

  it('(a) stopped (pg_ctl stop -m immediate), with a worker SIGKILLed during the outage', async (t) => {
    if (skipOrFail(t)) return;
    assert.ok(pg && service);
    const primary = service.child.pid ?? 0;
    await outage(t, 'stopped', {
      breakIt: () => pg?.stopImmediate(),
      holdMs: 3_000,
      during: async () => {
        await sleep(500);
        const ready = performance.now();
        const res = await fetch(`${service?.base}/health/ready`, { signal: AbortSignal.timeout(10_000) });
        assert.equal(res.status, 503);
        assert.ok(performance.now() - ready < READY_BOUND_MS);
        const victim = childrenOf(primary).find((pid) => commandOf(pid).includes('start.mjs'));
        assert.ok(victim, 'a worker to kill');
        spawned.add(victim);
        workerKills.push(performance.now());
        process.kill(victim, 'SIGKILL');
        // The outage lasts until the replacement (started 500 ms later) has met it: how long a worker takes to
        // reach its first connection varies with the machine's load (under Node 24 one once connected after the
        // database was back, and the assertions below failed), and one that starts after that simply connects.
        const until = performance.now() + 20_000;
        while (!/failed to start: /.test(service?.output() ?? '') && performance.now() < until) await sleep(100);
      },
      restore: () => pg?.start(),
    });
    const out = service.output();
    assert.match(out, /was killed by SIGKILL after listening/);
    assert.match(out, /failed to start: .*(ECONNREFUSED|did not answer|Could not connect)/);
    assert.match(out, /exited with code 1 before it listened; 1 worker\(s\) serving; starting a replacement in \d+ ms/);
  });

  it('(b) killed (SIGKILL of the postmaster)', async (t) => {
    if (skipOrFail(t)) return;
    await outage(t, 'killed', {
      breakIt: () => pg?.killPostmaster(),
      holdMs: 2_000,
      restore: () => pg?.start(),
    });
  });

  it('(c) frozen (SIGSTOP of the postmaster and its backends, then SIGCONT)', async (t) => {
    if (skipOrFail(t)) return;
    await outage(t, 'frozen', {
      breakIt: () => pg?.freeze(),
      holdMs: 5_000,
      during: async () => {
        await sleep(500);
        const ready = performance.now();
        const res = await fetch(`${service?.base}/health/ready`, { signal: AbortSignal.timeout(10_000) });
        const took = performance.now() - ready;
        t.diagnostic(`frozen: /health/ready answered ${res.status} after ${round(took)} ms`);
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
        assert.ok(took < READY_BOUND_MS, `/health/ready took ${round(took)} ms`);
      },
      restore: () => pg?.thaw(),
    });
  });

  it('answered every request with 201 or 503 + Retry-After, none past its bound, no 500, no hang', async (t) => {
    if (skipOrFail(t)) return;
    assert.ok(load);
    await load.stop();
    const outcomes = load.outcomes;
    const killedInFlight = (o: Outcome) =>
      o.status === 0 && workerKills.some((at) => o.start <= at + 500 && o.end >= at - 100);
    const bad = outcomes.filter((o) => !(o.status === 201 || o.status === 503) && !killedInFlight(o));
    assert.deepEqual(
      bad.map((o) => `${o.status || o.error} after ${round(duration(o))} ms: ${o.body ?? ''}`),
      [],
      'only 201 and 503',
    );
    const noRetryAfter = outcomes.filter((o) => o.status === 503 && !o.retryAfter);
    assert.equal(noRetryAfter.length, 0, 'every 503 has Retry-After');
    const slow = outcomes.filter((o) => duration(o) > BOUND_MS);
    assert.deepEqual(
      slow.map((o) => `${o.status} after ${round(duration(o))} ms`),
      [],
      `no request took longer than ${BOUND_MS} ms`,
    );
    const created = outcomes.filter((o) => o.status === 201);
    t.diagnostic(
      `ledger: ${outcomes.length} requests, ${created.length} x 201, ${outcomes.filter((o) => o.status === 503).length} x 503, ${
        outcomes.filter(killedInFlight).length
      } lost with the killed worker`,
    );
    assert.ok(created.length > 50, 'the load wrote');
  });

  it('can read back every acknowledged write, and is back to two workers', async (t) => {
    if (skipOrFail(t)) return;
    assert.ok(load && service);
    const created = load.outcomes.filter((o) => o.status === 201);
    const login = await fetch(`${service.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'fault-admin@example.com', password: 'fault-Admin-pass-4412' }),
    });
    assert.equal(login.status, 200);
    const authorization = `Bearer ${((await login.json()) as { access_token: string }).access_token}`;
    const missing: string[] = [];
    for (let i = 0; i < created.length; i += 8) {
      await Promise.all(
        created.slice(i, i + 8).map(async (o) => {
          const res = await fetch(`${service?.base}/api/v1/users/${o.id}`, {
            headers: { authorization },
            signal: AbortSignal.timeout(10_000),
          });
          const body = res.status === 200 ? ((await res.json()) as { email: string }) : undefined;
          if (body?.email !== o.email) missing.push(`${o.id} ${o.email}: ${res.status}`);
        }),
      );
    }
    assert.deepEqual(missing, [], 'every 201 is readable');
    assert.ok(
      await waitFor(() => (service?.output().match(/all 2 workers listening/g) ?? []).length >= 2, 40_000),
      `the killed worker was replaced:\n${service.output()}`,
    );
  });
});
