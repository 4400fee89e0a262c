/**
 * Revocation is immediate on every process (the access issue, "Tokens and sessions"): the service runs as it
 * does in production, `npm start`'s command with WORKERS=2, and requests go out on fresh connections so the
 * cluster's round-robin hands them to both workers. After a logout through one connection, every following
 * request with that access token is refused, whichever worker serves it; the same for the sessions a password
 * change ends. The superuser comes from FIRST_SUPERUSER_EMAIL / FIRST_SUPERUSER_PASSWORD.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createServerDatabase, type ServerDatabase, serverReachable } from '@user-service/data/testing';
import { send } from './support/fresh-connection.js';
import {
  childrenOf,
  commandOf,
  killAll,
  type Running,
  SERVICE_DIR,
  startService,
  waitFor,
} from './support/processes.js';

const API = '/api/v1';
const ADMIN = { email: 'first-admin@example.com', password: 'Granite-Compass-Willow-83' };
const PASSWORD = 'Saffron-Glacier-Ember-47';
/** Requests per check: with two workers taking fresh connections in turn, each serves about half. */
const ROUNDS = 24;

async function login(base: string, username: string, password: string): Promise<{ access_token: string }> {
  const res = await send(base, 'POST', `${API}/auth/login`, { body: { username, password } });
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body) as { access_token: string };
}

/** The statuses of ROUNDS requests with this token, one after the other, each on a fresh connection. */
async function statuses(base: string, token: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) out.push((await send(base, 'GET', `${API}/users/me`, { token })).status);
  return out;
}

const every = (status: number) => Array.from({ length: ROUNDS }, () => status);

type Kind = 'sqlite' | 'postgres';
const postgres = await serverReachable('postgres');
const KINDS: Kind[] = postgres === true ? ['sqlite', 'postgres'] : ['sqlite'];

// The two databases' services start side by side: a WORKERS=2 start takes most of the time (about 15 s).
describe('revocation across processes', { concurrency: KINDS.length }, () => {
  for (const kind of KINDS) {
    describe(`revocation across WORKERS=2 processes on ${kind}`, { concurrency: 1 }, () => {
      const dir = mkdtempSync(join(tmpdir(), 'us-revoke-'));
      const pids = new Set<number>();
      let running: Running | undefined;
      let server: ServerDatabase | undefined;
      after(async () => {
        if (running?.child.pid) {
          const workers = childrenOf(running.child.pid);
          running.child.kill('SIGTERM');
          await Promise.race([running.exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
          for (const pid of workers) pids.add(pid);
        }
        killAll(pids);
        await server?.drop();
        rmSync(dir, { recursive: true, force: true });
      });

      const base = () => {
        assert.ok(running, 'the service runs');
        return running.base;
      };

      it('starts two workers and bootstraps the first superuser from FIRST_SUPERUSER_*', async () => {
        let url = `sqlite:///${join(dir, 'app.db')}`;
        if (kind === 'postgres') {
          server = await createServerDatabase('postgres', { prefix: 'us_revoke' });
          url = server.url;
        }
        running = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
          cwd: SERVICE_DIR,
          timeoutMs: 60_000,
          env: {
            WORKERS: '2',
            DATABASE_URL: url,
            DB_CONNECT_ATTEMPTS: '1',
            MIGRATE_ON_START: 'true',
            FIRST_SUPERUSER_EMAIL: ADMIN.email,
            FIRST_SUPERUSER_PASSWORD: ADMIN.password,
            AUTH_RATE_LIMIT_PER_MINUTE: '100000',
          },
        });
        const primary = running.child.pid ?? 0;
        pids.add(primary);
        const output = running.output;
        assert.ok(await waitFor(() => /all 2 workers listening/.test(output()), 30_000), output());
        const workers = childrenOf(primary).filter((pid) => commandOf(pid).includes('start.mjs'));
        for (const pid of workers) pids.add(pid);
        assert.equal(workers.length, 2, `two workers under ${primary}: ${workers.join(', ')}\n${output()}`);

        const admin = await login(base(), ADMIN.email, ADMIN.password);
        const list = await statuses(base(), admin.access_token);
        assert.deepEqual(list, every(200), 'the superuser is signed in on both workers');
        const users = await send(base(), 'GET', `${API}/users`, { token: admin.access_token });
        assert.equal(users.status, 200, users.body);
        const body = JSON.parse(users.body) as { users?: { email: string; is_superuser: boolean }[] };
        const found = body.users?.find((u) => u.email === ADMIN.email);
        assert.equal(found?.is_superuser, true, users.body);
        assert.doesNotMatch(output(), new RegExp(ADMIN.password), 'the password is never printed');
      });

      it('a logout through one connection refuses that access token on the very next request, on every worker', async () => {
        const admin = await login(base(), ADMIN.email, ADMIN.password);
        const email = `logout-${kind}@example.com`;
        const created = await send(base(), 'POST', `${API}/users`, {
          token: admin.access_token,
          body: { email, password: PASSWORD },
        });
        assert.equal(created.status, 201, created.body);
        const session = await login(base(), email, PASSWORD);
        const other = await login(base(), email, PASSWORD);
        assert.deepEqual(await statuses(base(), session.access_token), every(200));

        const out = await send(base(), 'POST', `${API}/auth/logout`, { token: session.access_token });
        assert.equal(out.status, 204, out.body);
        assert.deepEqual(await statuses(base(), session.access_token), every(401));
        assert.deepEqual(await statuses(base(), other.access_token), every(200), 'the other session stays');
        // Parallel requests right after a logout, too: none of them slips through on either worker.
        const again = await login(base(), email, PASSWORD);
        const logout = send(base(), 'POST', `${API}/auth/logout`, { token: again.access_token });
        assert.equal((await logout).status, 204);
        const burst = await Promise.all(
          Array.from({ length: ROUNDS }, () => send(base(), 'GET', `${API}/users/me`, { token: again.access_token })),
        );
        assert.deepEqual(
          burst.map((r) => r.status),
          every(401),
        );
      });

      it('a password change ends the other sessions on every worker; the current one keeps working', async () => {
        const admin = await login(base(), ADMIN.email, ADMIN.password);
        const email = `password-${kind}@example.com`;
        const created = await send(base(), 'POST', `${API}/users`, {
          token: admin.access_token,
          body: { email, password: PASSWORD },
        });
        assert.equal(created.status, 201, created.body);
        const current = await login(base(), email, PASSWORD);
        const others = [await login(base(), email, PASSWORD), await login(base(), email, PASSWORD)];
        for (const s of others) assert.deepEqual(await statuses(base(), s.access_token), every(200));

        const changed = await send(base(), 'POST', `${API}/auth/password`, {
          token: current.access_token,
          body: { current_password: PASSWORD, new_password: 'Walnut-Prairie-Comet-19' },
        });
        assert.equal(changed.status, 204, changed.body);
        for (const s of others) assert.deepEqual(await statuses(base(), s.access_token), every(401));
        assert.deepEqual(await statuses(base(), current.access_token), every(200));
        await login(base(), email, 'Walnut-Prairie-Comet-19');
      });
    });
  }
});
