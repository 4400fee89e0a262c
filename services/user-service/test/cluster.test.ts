import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  alive,
  childrenOf,
  commandOf,
  killAll,
  SERVICE_DIR,
  sleep,
  startService,
  waitFor,
} from './support/processes.js';

const NOT_A_DATABASE = 'not a database: plain text long enough to cover the 100-byte SQLite header...........';

/** Worker processes of a primary (not, say, the esbuild service a fresh build leaves running). */
const workersOf = (pid: number) => childrenOf(pid).filter((child) => commandOf(child).includes('start.mjs'));

/** Workers that stay the same for `forMs`: workers that started and kept running. */
async function stableChildren(pid: number, count: number, forMs: number, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let since = Date.now();
  while (Date.now() < deadline) {
    const now = workersOf(pid).sort();
    const key = now.join(',');
    if (key !== last) {
      last = key;
      since = Date.now();
    } else if (now.length === count && Date.now() - since >= forMs) return now;
    await sleep(100);
  }
  throw new Error(`no ${count} stable workers under ${pid} within ${timeoutMs} ms (last: ${last})`);
}

describe('the cluster primary never gives up on its workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-cluster-'));
  const folder = join(dir, 'db');
  const file = join(folder, 'app.db');
  const pids = new Set<number>();
  after(() => {
    killAll(pids);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the healthy worker serving while a replacement cannot start, and restarts it with backoff', async () => {
    const running = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
      cwd: SERVICE_DIR,
      env: { WORKERS: '2', DATABASE_URL: `sqlite:///${file}`, DB_CONNECT_ATTEMPTS: '1' },
    });
    const primary = running.child.pid ?? 0;
    pids.add(primary);
    const allListening = /all 2 workers listening/g;
    assert.ok(await waitFor(() => (running.output().match(allListening) ?? []).length === 1, 20_000), running.output());
    const [victim, survivor] = await stableChildren(primary, 2, 0, 1_000);
    for (const pid of [victim, survivor]) pids.add(pid ?? 0);
    const created = await fetch(`${running.base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'cluster@example.com', password: 'cluster-Pass-7731' }),
    });
    assert.equal(created.status, 201);

    // A replacement cannot start while the database's folder is a plain file (the running workers keep the files
    // they opened): it fails at start-up as it would on a database server that is down. Then one worker dies.
    renameSync(folder, `${folder}.real`);
    writeFileSync(folder, 'not a folder');
    process.kill(victim ?? 0, 'SIGKILL');
    await sleep(3_500);
    assert.ok(alive(primary), `the primary is still running:\n${running.output()}`);
    assert.ok(alive(survivor ?? 0), 'the healthy worker is still running');
    const health = () =>
      fetch(`${running.base}/health`).then(
        (r) => r.status,
        (e: Error) => `${e.cause ?? e}\n${running.output()}`,
      );
    for (let i = 0; i < 5; i++) assert.equal(await health(), 200);
    const out = running.output();
    assert.match(out, new RegExp(`worker ${victim} was killed by SIGKILL after listening for \\d+ s`));
    assert.match(out, /exited with code 1 before it listened; 1 worker\(s\) serving; starting a replacement in \d+ ms/);
    assert.match(out, /failed to start: .*(EEXIST|ENOTDIR)/);
    const delays = [...out.matchAll(/starting a replacement in (\d+) ms/g)].map((m) => Number(m[1]));
    assert.ok(delays.length >= 2, out);
    assert.ok(
      delays.every((d, i) => i === 0 || d >= (delays[i - 1] ?? 0)),
      `delays grow: ${delays.join(', ')}`,
    );

    // The database is usable again: the next restart brings the second worker back.
    rmSync(folder);
    renameSync(`${folder}.real`, folder);
    assert.ok(await waitFor(() => (running.output().match(allListening) ?? []).length === 2, 20_000), running.output());
    const workers = await stableChildren(primary, 2, 0, 1_000);
    for (const pid of workers) pids.add(pid);
    assert.ok(workers.includes(survivor ?? 0), 'the healthy worker was never touched');
    const user = (await created.json()) as { id: string };
    const login = await fetch(`${running.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'cluster@example.com', password: 'cluster-Pass-7731' }),
    });
    assert.equal(login.status, 200);
    const authorization = `Bearer ${((await login.json()) as { access_token: string }).access_token}`;
    // Every worker (the replacement included) accepts a token another worker signed.
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${running.base}/api/v1/users/${user.id}`, { headers: { authorization } });
      assert.equal(res.status, 200);
    }

    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
    assert.ok(await waitFor(() => workers.every((pid) => !alive(pid)), 5_000), 'every worker stopped');
  });

  it('stops at the very first start when the first worker meets a configuration error', async () => {
    const bad = join(dir, 'bad.db');
    writeFileSync(bad, NOT_A_DATABASE);
    const child = spawn(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
      cwd: SERVICE_DIR,
      env: { ...process.env, WORKERS: '2', PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:///${bad}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    pids.add(child.pid ?? 0);
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await Promise.race([
      new Promise((resolve) => child.on('exit', resolve)),
      sleep(20_000).then(() => 'still running'),
    ]);
    assert.equal(code, 1, err);
    assert.match(err, /failed to start: Cannot use sqlite:.*not a database/);
    assert.match(err, /exited with code 78 before it listened: a configuration error at start-up; stopping/);
    assert.ok(!existsSync(`/proc/${child.pid}`) || !alive(child.pid ?? 0));
  });
});
