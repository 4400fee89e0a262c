import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { loadConfig } from '../src/config.js';
import { freePort, killAll, type Running, SERVICE_DIR, startService } from './support/processes.js';
import { matching, parseMetrics } from './support/prometheus.js';
import { emptyTables, openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const METRICS_TOKEN = 'scrape-token-0123456789abcdef';

/** The value of the one sample whose name and labels match, or 0 when there is none. */
function sample(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const found = matching(samples, name, labels);
  assert.ok(found.length <= 1, `more than one ${name} sample matches ${JSON.stringify(labels)}`);
  return found[0]?.[1] ?? 0;
}

onEachDatabase('metrics', (tdb) => {
  let t: TestApp;
  const scrape = async () => {
    const response = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(response.statusCode, 200, response.body);
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return { text: response.body, samples: parseMetrics(response.body) };
  };

  before(async () => {
    t = await openTestApp(tdb, {
      metrics: { token: METRICS_TOKEN },
      defaultCredentials: false,
      access: { refreshReuseGraceSeconds: 0 },
      totalsTtlMs: 60_000,
    });
  });
  after(() => t.close());

  it('refuses a scrape without the token, with a wrong one, or with a user or API key', async () => {
    const superuser = await t.signUp({ superuser: true });
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token-0123456789abcdef' },
      { authorization: `Bearer ${METRICS_TOKEN}x` },
      { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` },
      superuser.headers,
      { 'x-api-key': t.apiKey },
    ]) {
      const response = await t.app.inject({ url: '/metrics', headers });
      assert.equal(response.statusCode, 401, JSON.stringify(headers));
      assert.deepEqual(response.json(), { detail: 'Not authenticated' });
    }
    const docs = (await t.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    assert.equal(docs.paths['/metrics'], undefined, 'not part of the API document');
  });

  it('counts requests by route template and status, database queries, hashes, logins, sessions and the count cache', async () => {
    await emptyTables(t.database);
    const before = (await scrape()).samples;
    const { user, headers, refresh_token } = await t.signUp();
    const admin = { 'x-api-key': t.apiKey };
    for (let i = 0; i < 3; i++) {
      assert.equal((await t.app.inject({ url: `/api/v1/users/${user.id}`, headers })).statusCode, 200);
    }
    const missing = await t.app.inject({ url: '/api/v1/users/00000000-0000-4000-8000-000000000000', headers: admin });
    assert.equal(missing.statusCode, 404);
    const unknownPath = await t.app.inject({ url: '/no/such/path/12345', headers: admin });
    assert.equal(unknownPath.statusCode, 404);
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: user.email, password: 'not-the-password-42' },
    });
    assert.equal(wrong.statusCode, 401);
    // A list twice within TOTAL_CACHE_MS: the first counts, the second is served from the cache.
    for (let i = 0; i < 2; i++) {
      assert.equal((await t.app.inject({ url: '/api/v1/users', headers: admin })).statusCode, 200);
    }
    // Refresh once, then present the used token again past the (zero) grace window: reuse ends the session.
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token } });
    assert.equal(refreshed.statusCode, 200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reused = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token } });
    assert.equal(reused.statusCode, 401);

    const { text, samples } = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sample(samples, name, labels) - sample(before, name, labels);
    const route = (method: string, path: string, status: number) => ({
      method,
      route: path,
      status_code: String(status),
    });
    assert.equal(delta('http_request_duration_seconds_count', route('GET', '/api/v1/users/:id', 200)), 3);
    assert.equal(delta('http_request_duration_seconds_count', route('GET', '/api/v1/users/:id', 404)), 1);
    assert.equal(delta('http_request_duration_seconds_count', route('GET', 'unmatched', 404)), 1);
    assert.equal(delta('http_request_duration_seconds_count', route('POST', '/api/v1/auth/login', 401)), 1);
    assert.equal(delta('http_request_duration_seconds_count', route('POST', '/api/v1/auth/login', 200)), 1);
    assert.ok(delta('http_request_duration_seconds_sum', route('GET', '/api/v1/users/:id', 200)) > 0);
    assert.ok(!text.includes('/no/such/path'), 'an unknown path never becomes a label');
    assert.ok(!text.includes(user.id), 'no concrete id in a label');
    // The in-flight gauge counts the scrape itself.
    assert.equal(sample(samples, 'http_requests_in_flight'), 1);

    assert.ok(delta('db_query_duration_seconds_count', { operation: 'select', table: 'users' }) >= 1);
    assert.ok(delta('db_query_duration_seconds_count', { operation: 'insert', table: 'sessions' }) >= 1);
    assert.ok(delta('db_query_duration_seconds_count', { operation: 'update', table: 'sessions' }) >= 1);
    // Nothing leaks a connection: once background work (the outbox sender's poll, a key's last_used_at write)
    // is done, none is in use. Scraped again for up to 2 s, since such work may hold one at any given moment.
    let pool = samples;
    for (let i = 0; i < 20 && sample(pool, 'db_pool_connections_in_use') !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      pool = (await scrape()).samples;
    }
    assert.equal(sample(pool, 'db_pool_connections_in_use'), 0);
    assert.equal(sample(pool, 'db_pool_waiting'), 0);
    assert.ok(sample(samples, 'db_pool_connections_max') >= 1);

    // signUp creates the user through the service (one hash) and logs in (one verify); then one wrong password.
    assert.ok(delta('password_hash_duration_seconds_count', { operation: 'hash' }) >= 1);
    assert.equal(delta('password_hash_duration_seconds_count', { operation: 'verify' }), 2);
    assert.equal(sample(samples, 'password_hash_queue_length'), 0);

    assert.equal(delta('auth_login_attempts_total', { outcome: 'success' }), 1);
    assert.equal(delta('auth_login_attempts_total', { outcome: 'bad_credentials' }), 1);
    assert.equal(delta('auth_refresh_token_reuse_total'), 1);
    assert.equal(delta('auth_sessions_revoked_total', { reason: 'refresh_reuse' }), 1);
    assert.equal(delta('list_total_cache_lookups_total', { result: 'miss' }), 1);
    assert.equal(delta('list_total_cache_lookups_total', { result: 'hit' }), 1);

    // Node's own: CPU, memory, event loop lag, GC.
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(samples.has(name), name);
    }
    assert.ok([...samples.keys()].some((key) => key.startsWith('nodejs_gc_duration_seconds')));

    for (const secret of [TEST_PASSWORD, 'not-the-password-42', refresh_token, headers.authorization, t.apiKey]) {
      assert.ok(!text.includes(secret.slice(7)), 'no secret in the metrics');
    }
  });

  it('serves every series the Grafana dashboard in docs/ queries', async () => {
    const dashboard = readFileSync(join(SERVICE_DIR, '../../docs/grafana-dashboard.json'), 'utf8');
    const queried = new Set([...dashboard.matchAll(/([a-z_][a-z0-9_]*)\{job=~/g)].map((m) => m[1] as string));
    assert.ok(queried.size >= 15, `the dashboard queries ${queried.size} series`);
    // Every family is declared (# TYPE) even before its first labelled sample; histograms as their base name.
    const families = new Map(
      [...(await scrape()).text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
    for (const name of queried) {
      const base = name.replace(/_(bucket|count|sum)$/, '');
      assert.ok(families.has(name) || families.get(base) === 'histogram', `${name} is served`);
    }
  });

  it('counts lockouts and logouts', async () => {
    const limited = await openTestApp(tdb, {
      metrics: { token: METRICS_TOKEN },
      defaultCredentials: false,
      access: { login: { accountMaxFailures: 2, ipMaxFailures: 1000, windowMinutes: 15 } },
    });
    try {
      const { user, headers } = await limited.signUp();
      const login = (password: string) =>
        limited.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: user.email, password } });
      assert.equal((await login('wrong-password-number-1')).statusCode, 401);
      assert.equal((await login('wrong-password-number-2')).statusCode, 401);
      assert.equal((await login(TEST_PASSWORD)).statusCode, 429);
      const logout = await limited.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers });
      assert.equal(logout.statusCode, 204);
      const samples = parseMetrics(
        (await limited.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).body,
      );
      assert.equal(sample(samples, 'auth_login_attempts_total', { outcome: 'locked_out' }), 1);
      assert.equal(sample(samples, 'auth_login_attempts_total', { outcome: 'bad_credentials' }), 2);
      assert.equal(sample(samples, 'auth_sessions_revoked_total', { reason: 'logout' }), 1);
    } finally {
      await limited.close();
    }
  });
});

describe('metrics configuration', () => {
  it('is off by default and says why a setting is refused', () => {
    assert.equal(loadConfig({}).metrics, undefined);
    assert.deepEqual(loadConfig({ METRICS_PORT: '9464' }).metrics, { token: undefined, port: 9464, host: '127.0.0.1' });
    assert.deepEqual(loadConfig({ METRICS_TOKEN: METRICS_TOKEN, METRICS_HOST: '0.0.0.0' }).metrics, {
      token: METRICS_TOKEN,
      port: undefined,
      host: '0.0.0.0',
    });
    assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN must be at least 16/);
    assert.throws(() => loadConfig({ METRICS_PORT: '8000' }), /METRICS_PORT must differ from PORT/);
    assert.throws(() => loadConfig({ METRICS_PORT: 'x' }), /METRICS_PORT must be an integer/);
  });

  it('without METRICS_TOKEN, /metrics on the API port is refused whatever the caller sends', async () => {
    const { app, close } = await openTestApp(
      { kind: 'sqlite', url: `sqlite:///${join(scratch(), 'off.db')}` },
      { defaultCredentials: false },
    );
    try {
      const response = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(response.statusCode, 401, 'refused by the policy when no token is configured');
    } finally {
      await close();
    }
  });
});

const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'us-metrics-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('metrics of a cluster (WORKERS=2, real processes, SQLite)', () => {
  let service: Running;
  let metricsPort: number;

  before(async () => {
    metricsPort = await freePort();
    service = await startService(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: SERVICE_DIR,
      env: {
        DATABASE_URL: `sqlite:///${join(scratch(), 'cluster.db')}`,
        WORKERS: '2',
        PORT: String(await freePort()),
        METRICS_PORT: String(metricsPort),
        METRICS_TOKEN,
        JWT_SECRET: 'cluster-metrics-secret-0123456789abcdef',
      },
      timeoutMs: 60_000,
    });
    // The banner comes from the first worker; the second starts once the first listens.
    const deadline = Date.now() + 30_000;
    while (!/all 2 workers listening/.test(service.output()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(service.output(), /all 2 workers listening/);
  });
  after(() => {
    if (service) killAll([service.child.pid as number]);
  });

  it('one scrape sums every worker, on METRICS_PORT and on the API port with the token', async () => {
    const requests = 40;
    // A new connection per request, so the primary hands them to both workers in turn.
    for (let i = 0; i < requests; i++) {
      const response = await fetch(`${service.base}/health`, { headers: { connection: 'close' } });
      assert.equal(response.status, 200);
    }
    const healthCount = (text: string) =>
      sample(parseMetrics(text), 'http_request_duration_seconds_count', {
        method: 'GET',
        route: '/health',
        status_code: '200',
      });

    const separate = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    assert.equal(separate.status, 200);
    const separateText = await separate.text();
    assert.equal(healthCount(separateText), requests, 'the sum over both workers, not one worker');
    // Each worker reports a process start time; summed, the two together exceed one worker's by far.
    assert.equal(sample(parseMetrics(separateText), 'db_pool_connections_max'), 2, "two workers' SQLite pools");

    const viaApi = await fetch(`${service.base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(viaApi.status, 200);
    assert.equal(healthCount(await viaApi.text()), requests);

    // The separate listener asks for the token too when one is set, and serves nothing else.
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/api/v1/users`)).status, 404);
    assert.equal((await fetch(`${service.base}/metrics`)).status, 401);
  });
});
