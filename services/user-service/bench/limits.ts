/**
 * The limits the service cannot beat on this machine, measured in the same run as the workloads:
 * the database driver alone (bench/db-limit.ts, one process per service worker) and the password hasher on
 * every core. The HTTP limit is bench/http-limit-server.ts under the same load (see run.ts).
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Algorithm, hash } from '@node-rs/argon2';
import { loadConfig } from '../src/config.js';
import type { DbLimitResult, DbLimitSpec } from './db-limit.js';
import type { LoadResult } from './load.js';
import { SERVICE_DIR } from './processes.js';
import type { Sample } from './sample.js';
import { percentile } from './stats.js';
import type { DbQuery } from './workloads.js';

const run = promisify(execFile);

/** Runs the same query in `processes` processes at once (as many as the service has workers), summed. */
export async function measureDbLimit(
  url: string,
  query: DbQuery,
  sample: Sample,
  processes: number,
  connections: number,
  duration: number,
  /** For `update` and `list-deep`: the service's statements (bench/traced-sql.ts). */
  traced?: string[],
): Promise<LoadResult> {
  const spec: DbLimitSpec = {
    ...(traced ? { traced } : {}),
    url,
    query,
    concurrency: Math.max(1, Math.ceil(connections / processes)),
    duration,
    total: sample.total,
    ids: sample.ids,
    emails: sample.emails,
  };
  const file = join(tmpdir(), `us-bench-db-limit-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(spec));
  let results: DbLimitResult[];
  try {
    results = await Promise.all(
      Array.from({ length: processes }, async () => {
        const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/db-limit.ts', file], {
          cwd: SERVICE_DIR,
          timeout: (duration + 60) * 1000,
        });
        return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as DbLimitResult;
      }),
    );
  } finally {
    rmSync(file, { force: true });
  }
  return {
    rps: results.reduce((sum, r) => sum + r.opsPerSec, 0),
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    requests: results.reduce((sum, r) => sum + r.ops, 0),
    non2xx: 0,
    errors: 0,
    statuses: {},
  };
}

// Algorithm is an ambient const enum; 2 is Argon2id (as in src/auth/password-hasher.ts).
const ARGON2ID = 2 as Algorithm;

/** Hashes per second of @node-rs/argon2 with the service's parameters, as many at once as there are cores. */
export async function measureHasher(duration: number): Promise<LoadResult> {
  const { passwordHash } = loadConfig({ ...process.env, DATABASE_URL: undefined });
  const options = {
    algorithm: ARGON2ID,
    memoryCost: passwordHash.memoryKib,
    timeCost: passwordHash.iterations,
    parallelism: passwordHash.parallelism,
  };
  const latencies: number[] = [];
  const startedAt = performance.now();
  const until = startedAt + duration * 1000;
  await Promise.all(
    Array.from({ length: availableParallelism() }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await hash('load-test-password', options);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - startedAt) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    requests: latencies.length,
    non2xx: 0,
    errors: 0,
    statuses: {},
  };
}
