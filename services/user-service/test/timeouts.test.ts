import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config.js';
import { serve } from '../src/server.js';
import { openTestApp, type TestApp } from './support/test-app.js';

const never = () => new Promise<never>(() => {});

describe('the readiness probe on a database that does not answer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-ready-'));
  let t: TestApp;
  before(async () => {
    t = await openTestApp({ kind: 'sqlite', url: `sqlite:///${join(dir, 'ready.db')}` });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [what, hang] of [
    ['the ping hangs', (x: TestApp) => Object.assign(x.database, { ping: never })],
    ['the migrations table hangs', (x: TestApp) => Object.assign(x.migrator, { pending: never })],
  ] as const) {
    it(`answers 503 + Retry-After within its own 2 s when ${what}`, async () => {
      hang(t);
      try {
        const started = performance.now();
        const res = await t.app.inject('/health/ready');
        const ms = performance.now() - started;
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(res.headers['retry-after'], '5');
        assert.match(res.json().detail, /not answering/);
        assert.ok(ms >= 1900 && ms < 3000, `answered after ${Math.round(ms)} ms`);
      } finally {
        delete (t.database as { ping?: unknown }).ping;
        delete (t.migrator as { pending?: unknown }).pending;
      }
      assert.equal((await t.app.inject('/health/ready')).statusCode, 200);
    });
  }
});

describe('request timeout (REQUEST_TIMEOUT_MS)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-rt-'));
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    app = await serve(
      loadConfig({
        DATABASE_URL: `sqlite:///${join(dir, 'rt.db')}`,
        PORT: '0',
        WORKERS: '1',
        LOG_LEVEL: 'silent',
        REQUEST_TIMEOUT_MS: '1500',
        JWT_SECRET: 'a-secret-of-at-least-32-characters-long',
        PASSWORD_HASH_MEMORY_KIB: '8192',
        PASSWORD_HASH_ITERATIONS: '1',
      }),
      { quiet: true },
    );
    const address = app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 408 and closes the connection of a client that dribbles its body', async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = performance.now();
    // To a public route: on a protected one an anonymous request is refused (401) before its body is read.
    socket.write(
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{',
    );
    // One byte every 200 ms: the whole body would take 40 s.
    const dribble = setInterval(() => socket.writable && socket.write(' '), 200);
    let received = '';
    socket.on('data', (d) => (received += d));
    socket.on('error', () => {});
    const closedAfter = await new Promise<number>((resolve) => {
      const give = setTimeout(() => resolve(Number.POSITIVE_INFINITY), 8_000);
      socket.on('close', () => {
        clearTimeout(give);
        resolve(performance.now() - started);
      });
    });
    clearInterval(dribble);
    socket.destroy();
    assert.ok(closedAfter < 4_000, `connection held for ${Math.round(closedAfter)} ms`);
    assert.ok(closedAfter >= 1_400, `closed too early, after ${Math.round(closedAfter)} ms`);
    assert.match(received, /^HTTP\/1\.1 408 /);
  });

  it('still serves requests that arrive in time', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(res.status, 200);
  });
});
