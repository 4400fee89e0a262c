/**
 * Shutdown and crashes, with real processes (`node --import tsx`) on an SQLite file of their own:
 * - an uncaught exception in a cluster worker is logged at fatal, as JSON, with the id of the request in flight;
 *   the worker finishes that request, exits 1 and the primary starts a replacement while the other serves;
 * - an unhandled rejection in a single process: logged the same way, exit status 1;
 * - SIGTERM with a request that outlasts SHUTDOWN_TIMEOUT_MS: the process says so and exits 1 at the deadline;
 * - a cluster whose worker hangs (SIGSTOP): the primary kills it and exits 1 at SHUTDOWN_TIMEOUT_MS + margin.
 * The crashes come from test/support/crashing-service.ts, a harness that starts the service as main.ts does
 * after making a sign-in with a given password fail the way a bug would: no route or switch in the service.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SHUTDOWN_MARGIN_MS } from '../src/cluster.js';
import { alive, childrenOf, killAll, SERVICE_DIR, sleep, startService, waitFor } from './support/processes.js';

const UNCAUGHT_PASSWORD = 'Crash-Uncaught-Exception-91';
const UNHANDLED_PASSWORD = 'Crash-Unhandled-Rejection-37';
const USER = { email: 'crash@example.com', password: 'Steady-Harbor-Lantern-52' };

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  requests_in_flight?: string[];
  err?: { type: string; message: string };
  [key: string]: unknown;
}

/** The JSON log lines in a process's output (stdout and stderr are interleaved; text lines are skipped). */
function jsonLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

const login = (base: string, password: string, requestId: string) =>
  fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ username: USER.email, password }),
  });

describe('shutdown and crashes, as processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-shutdown-'));
  const pids = new Set<number>();
  let n = 0;
  const env = (extra: Record<string, string>) => ({
    DATABASE_URL: `sqlite:///${join(dir, `app-${++n}.db`)}`,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    CRASH_UNCAUGHT_PASSWORD: UNCAUGHT_PASSWORD,
    CRASH_UNHANDLED_PASSWORD: UNHANDLED_PASSWORD,
    ...extra,
  });
  const start = async (extra: Record<string, string>, entry = 'test/support/crashing-service.ts') => {
    const running = await startService(process.execPath, ['--import', 'tsx', entry], {
      cwd: SERVICE_DIR,
      env: env(extra),
      timeoutMs: 60_000,
    });
    pids.add(running.child.pid ?? 0);
    return running;
  };
  after(() => {
    killAll(pids);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an uncaught exception in a worker: fatal JSON line with the request id, exit 1, replaced; the service keeps answering', async () => {
    const running = await start({ WORKERS: '2' });
    const primary = running.child.pid ?? 0;
    const listening = () => (running.output().match(/all 2 workers listening/g) ?? []).length;
    assert.ok(await waitFor(() => listening() === 1, 30_000), running.output());
    for (const pid of childrenOf(primary)) pids.add(pid);
    const registered = await fetch(`${running.base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(USER),
    });
    assert.equal(registered.status, 201);

    // The request during which the worker crashes is still answered (the worker drains before exiting).
    const crashed = await login(running.base, UNCAUGHT_PASSWORD, 'crash-request-0001');
    assert.equal(crashed.status, 401);
    assert.equal(crashed.headers.get('connection'), 'close');

    assert.ok(await waitFor(() => /exited with code 1/.test(running.output()), 15_000), running.output());
    const fatal = jsonLines(running.output()).filter((line) => line.level === 60);
    assert.equal(fatal.length, 1, running.output());
    const line = fatal[0] as LogLine;
    assert.match(line.msg, /^uncaught error: shutting down/);
    assert.equal(line.err?.message, 'simulated bug: an uncaught exception while signing in');
    assert.deepEqual(line.requests_in_flight, ['crash-request-0001']);
    assert.match(running.output(), /worker \d+ exited with code 1 after listening for \d+ s; 1 worker\(s\) serving/);

    // The other worker serves throughout; the replacement brings the service back to two.
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${running.base}/health`)).status, 200);
    assert.ok(await waitFor(() => listening() === 2, 30_000), running.output());
    for (const pid of childrenOf(primary)) pids.add(pid);
    assert.equal((await login(running.base, USER.password, 'after-crash-0001')).status, 200);

    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0, running.output());
  });

  it('an unhandled rejection in a single process: fatal JSON line with the request id, exit 1', async () => {
    const running = await start({ WORKERS: '1' });
    await fetch(`${running.base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(USER),
    });
    const answer = await login(running.base, UNHANDLED_PASSWORD, 'rejection-request-0001');
    assert.equal(answer.status, 401);
    assert.equal(await running.exited, 1, running.output());
    const fatal = jsonLines(running.output()).filter((line) => line.level === 60);
    assert.equal(fatal.length, 1, running.output());
    assert.equal(fatal[0]?.err?.message, 'simulated bug: an unhandled rejection while signing in');
    assert.deepEqual(fatal[0]?.requests_in_flight, ['rejection-request-0001']);
    const messages = jsonLines(running.output()).map((l) => l.msg);
    assert.ok(messages.includes('stopped'), 'it drained and closed the database before exiting');
  });

  it('SIGTERM with a request that outlasts SHUTDOWN_TIMEOUT_MS: logged, exit 1 at the deadline', async () => {
    // A sign-in that takes 5 s (the harness's SLOW_PASSWORD) is in flight when the signal comes.
    const running = await start({ WORKERS: '1', SHUTDOWN_TIMEOUT_MS: '300', SLOW_PASSWORD: 'Slow-Glacier-Pebble-64' });
    const pending = login(running.base, 'Slow-Glacier-Pebble-64', 'slow-request-0001').catch((error: Error) => error);
    await sleep(300);
    const signalled = Date.now();
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 1, running.output());
    const took = Date.now() - signalled;
    assert.ok(took < 2_000, `exited ${took} ms after SIGTERM`);
    const lines = jsonLines(running.output());
    assert.ok(lines.some((l) => l.msg === 'shutting down: finishing in-flight requests' && l.signal === 'SIGTERM'));
    assert.ok(
      lines.some((l) => l.level === 60 && /shutdown did not finish within SHUTDOWN_TIMEOUT_MS \(300 ms\)/.test(l.msg)),
      running.output(),
    );
    assert.ok(!lines.some((l) => l.msg === 'stopped'));
    // The client of the request cut short sees its connection end, not an answer.
    assert.ok((await pending) instanceof Error);
  });

  it('a cluster whose worker hangs: the primary kills it and exits 1 at SHUTDOWN_TIMEOUT_MS + margin', async () => {
    const running = await start({ WORKERS: '2', SHUTDOWN_TIMEOUT_MS: '500' }, 'src/main.ts');
    const primary = running.child.pid ?? 0;
    assert.ok(await waitFor(() => /all 2 workers listening/.test(running.output()), 30_000), running.output());
    const workers = childrenOf(primary).filter((pid) => alive(pid));
    assert.equal(workers.length, 2, running.output());
    for (const pid of workers) pids.add(pid);
    const [hung, healthy] = workers as [number, number];
    process.kill(hung, 'SIGSTOP');
    const signalled = Date.now();
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 1, running.output());
    const took = Date.now() - signalled;
    assert.ok(took >= 500 + SHUTDOWN_MARGIN_MS - 100, `the primary waited out the deadline (${took} ms)`);
    assert.ok(took < 500 + SHUTDOWN_MARGIN_MS + 3_000, `and no longer (${took} ms)`);
    assert.match(running.output(), /workers still running 2500 ms after SIGTERM: killing \d+/);
    assert.ok(await waitFor(() => !alive(hung) && !alive(healthy), 5_000), 'no worker is left behind');
  });
});
