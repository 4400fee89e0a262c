/** Grows the benchmark database to a size with the documented command: `user-service seed --users N`. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { BenchDatabase } from './databases.js';
import { SERVICE_DIR } from './processes.js';

const run = promisify(execFile);

export interface SeedRun {
  users: number;
  seconds: number;
  rowsPerSecond: number;
}

/**
 * Adds `users` generated users (numbered after those already there). The seed's bulk load ends with fresh planner
 * statistics (ANALYZE; VACUUM (ANALYZE) on PostgreSQL), so none are gathered again here.
 */
export async function seed(db: BenchDatabase, users: number): Promise<SeedRun> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'src/cli/index.ts', 'seed', '--users', String(users), '--batch', '5000'],
    {
      cwd: SERVICE_DIR,
      env: { ...process.env, DATABASE_URL: db.url, MIGRATE_ON_START: 'true', LOG_LEVEL: 'warn' },
      maxBuffer: 1 << 20,
      timeout: 30 * 60 * 1000,
    },
  );
  const m = /seeded (\d+) users in ([\d.]+) s \((\d+) rows\/s\)/.exec(stdout);
  if (!m) throw new Error(`unexpected output from seed: ${stdout}`);
  return { users: Number(m[1]), seconds: Number(m[2]), rowsPerSecond: Number(m[3]) };
}
