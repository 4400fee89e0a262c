import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));
const ADMIN_PASSWORD = 'first-Admin-pass-4821';

/** Logs in over HTTP and returns the Authorization header value. */
async function bearer(base: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
}

interface Running {
  child: ChildProcess;
  base: string;
  output: () => string;
}

/** Starts `npm start`'s command as a real process and waits for its banner. */
async function start(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
    cwd: SERVICE_DIR,
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: '0', WORKERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 20 s:\n${out}`)), 20_000);
    child.stderr?.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${out}`));
    });
  });
  return { child, base, output: () => out };
}

function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}

describe('the service as a process (README walk-through on the embedded database)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-proc-'));
  const env = {
    DATABASE_URL: `sqlite:///${join(dir, 'app.db')}`,
    FIRST_SUPERUSER_EMAIL: 'admin@example.com',
    FIRST_SUPERUSER_PASSWORD: ADMIN_PASSWORD,
  };
  // Each start runs what `npm start` runs: scripts/start.mjs builds dist/ if needed, then serves from it.
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('starts, bootstraps a superuser, registers a user, stops on SIGTERM, starts again, and the user is still there', async () => {
    const first = await start(env);
    assert.match(first.output(), /docs: +http:\/\/.*\/docs/);
    assert.match(first.output(), /database: sqlite:\/\/\/.*app\.db \(sqlite\)/);
    assert.match(first.output(), /created the first superuser admin@example\.com/);
    assert.doesNotMatch(first.output(), new RegExp(ADMIN_PASSWORD));
    assert.equal((await fetch(`${first.base}/api/v1/users`)).status, 401, 'the API is closed to anonymous callers');
    const created = await fetch(`${first.base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'persist@example.com', password: 'persist-Pass-9137', full_name: 'Persisted' }),
    });
    assert.equal(created.status, 201);
    const user = (await created.json()) as { id: string };
    assert.equal(await stop(first.child), 0, 'graceful shutdown exits 0');

    // Restarted requiring verified emails: the first superuser's address came from the operator (verified), so
    // the admin still gets in; the user who signed up and never verified is refused with a reason.
    const second = await start({ ...env, REQUIRE_VERIFIED_EMAIL: 'true' });
    try {
      assert.doesNotMatch(second.output(), /created the first superuser/, 'only while no superuser exists');
      const unverified = await fetch(`${second.base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'persist@example.com', password: 'persist-Pass-9137' }),
      });
      assert.equal(unverified.status, 403);
      assert.match(((await unverified.json()) as { detail: string }).detail, /not verified/);
      const again = await fetch(`${second.base}/api/v1/users/${user.id}`, {
        headers: { authorization: await bearer(second.base, 'admin@example.com', ADMIN_PASSWORD) },
      });
      assert.equal(again.status, 200);
      assert.equal(((await again.json()) as { email: string }).email, 'persist@example.com');
      assert.equal((await fetch(`${second.base}/health/ready`)).status, 200);
    } finally {
      await stop(second.child, 'SIGINT');
    }
  });

  it('runs WORKERS=2 processes on one port, and stops them all on SIGTERM', async () => {
    const running = await start({ ...env, WORKERS: '2' });
    let workers: string[] = [];
    try {
      // The primary starts the second worker once the first listens.
      for (let i = 0; i < 100 && workers.length < 2; i++) {
        workers = readFileSync(`/proc/${running.child.pid}/task/${running.child.pid}/children`, 'utf8')
          .trim()
          .split(/\s+/)
          .filter(Boolean);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(workers.length, 2, 'the primary forked two workers');
      for (let i = 0; i < 10; i++) assert.equal((await fetch(`${running.base}/health`)).status, 200);
    } finally {
      assert.equal(await stop(running.child), 0);
    }
    for (const pid of workers)
      assert.ok(
        !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '),
        `worker ${pid} exited`,
      );
  });

  it('finishes an in-flight request before exiting on SIGTERM', async () => {
    // A slow hash (about half a second) keeps the request in flight long enough for it to have surely arrived
    // when the signal comes, even on a loaded machine.
    const running = await start({ ...env, PASSWORD_HASH_ITERATIONS: '40' });
    // A create spends time hashing; the signal arrives while it is in flight.
    const pending = fetch(`${running.base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'inflight@example.com', password: 'inflight-Pass-5521' }),
    });
    await new Promise((r) => setTimeout(r, 150));
    const exited = stop(running.child);
    const res = await pending;
    assert.equal(res.status, 201);
    assert.equal(await exited, 0);
  });

  it('refuses to start on a bad setting, naming the variable, without a stack trace', async () => {
    const child = spawn(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
      cwd: SERVICE_DIR,
      env: { ...process.env, PORT: 'not-a-port' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(err, /configuration error: PORT must be an integer/);
    assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
  });
});
