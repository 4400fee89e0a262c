/**
 * Time from `npm start` to the first 200 from /health, on a fresh (empty, unmigrated) SQLite database, with the
 * default configuration (WORKERS included).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_JWT_SECRET, freePort, SERVICE_DIR, waitForHealth } from './processes.js';
import { median } from './stats.js';

export async function timeToReady(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'us-bench-start-'));
  const port = await freePort();
  const startedAt = performance.now();
  const proc = spawn('npm', ['start', '--silent'], {
    cwd: SERVICE_DIR,
    env: {
      ...process.env,
      DATABASE_URL: `sqlite:///${join(dir, 'app.db')}`,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      JWT_SECRET: BENCH_JWT_SECRET,
    },
    detached: true,
    stdio: 'ignore',
  });
  try {
    await waitForHealth(`http://127.0.0.1:${port}/health`, 30_000, 5);
    return performance.now() - startedAt;
  } finally {
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    if (proc.pid !== undefined && proc.exitCode === null) process.kill(-proc.pid, 'SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `rounds` cold starts, each on its own fresh database. */
export async function startupSeries(
  rounds: number,
  log: (m: string) => void,
): Promise<{ ms: number[]; medianMs: number }> {
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    ms.push(Math.round(await timeToReady()));
    log(`time to ready after npm start: ${ms[ms.length - 1]} ms`);
  }
  return { ms, medianMs: median(ms) };
}
