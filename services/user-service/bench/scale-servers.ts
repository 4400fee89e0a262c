/**
 * The servers of the scale-out benchmark, all private to the run on free loopback ports (the shared PostgreSQL,
 * Redis and MariaDB are never touched): a PostgreSQL primary and a streaming replica (PrivatePostgres from the
 * data package's test support, run as the postgres user), a redis-server without persistence, and PgBouncer in
 * transaction pooling mode in front of the primary. Each `stop`/`destroy` is idempotent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PrivatePostgres, privatePostgresUnavailable } from '@user-service/data/testing';
import { Redis } from 'ioredis';
import { freePort, trackChild } from './processes.js';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const BENCH_DATABASE = 'us_bench_scale';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Why the scale-out benchmark cannot run here (it needs them all), or undefined. */
export async function scaleServersUnavailable(): Promise<string | undefined> {
  const pg = await privatePostgresUnavailable();
  if (pg) return `private PostgreSQL: ${pg}`;
  if (!existsSync(REDIS_SERVER)) return `${REDIS_SERVER} not found (apt-get install redis-server)`;
  return undefined;
}

export interface PrivateRedis {
  url: string;
  /** Empties it (cache entries and rate-limit counters of an earlier comparison). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

function redisClient(url: string): Redis {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  return client;
}

/** redis-server on a free port, no snapshots nor append-only file (a cache: nothing to keep). */
export async function startRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', ''],
    { detached: true, stdio: 'ignore' },
  );
  trackChild(proc);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const command = async (run: (c: Redis) => Promise<unknown>) => {
    const client = redisClient(url);
    try {
      await client.connect();
      return await run(client);
    } finally {
      client.disconnect();
    }
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} exited at start`);
    if ((await command((c) => c.ping()).catch(() => '')) === 'PONG') break;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`);
    await sleep(50);
  }
  return {
    url,
    flush: async () => {
      await command((c) => c.flushall());
    },
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface PostgresPair {
  primary: PrivatePostgres;
  replica: PrivatePostgres | undefined;
  /** DATABASE_URL of the benchmark database on the primary, and on the replica. */
  primaryUrl: string;
  replicaUrl(): string;
  destroy(): Promise<void>;
}

/** A private primary with an empty benchmark database (the replica comes after seeding: see addReplica). */
export async function startPrimary(): Promise<PostgresPair> {
  const primary = new PrivatePostgres();
  const pair: PostgresPair = {
    primary,
    replica: undefined,
    primaryUrl: '',
    replicaUrl: () => {
      if (!pair.replica) throw new Error('no replica yet');
      return pair.replica.urlFor(BENCH_DATABASE);
    },
    destroy: async () => {
      await pair.replica?.destroy();
      await primary.destroy();
    },
  };
  try {
    await primary.init();
    await primary.start();
    await primary.query(`create database ${BENCH_DATABASE}`);
    pair.primaryUrl = primary.urlFor(BENCH_DATABASE);
    return pair;
  } catch (error) {
    await primary.destroy();
    throw error;
  }
}

/**
 * A streaming replica of the seeded primary (pg_basebackup: a copy of the seeded data, no replay of the seed), and
 * resolves once it has replayed everything the primary had written: the comparison starts with it caught up.
 */
export async function addReplica(pair: PostgresPair): Promise<void> {
  pair.replica = await PrivatePostgres.replicaOf(pair.primary);
  const [row] = await pair.primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const [state] = await pair.replica.query<{ behind: boolean | null }>(
      'select pg_last_wal_replay_lsn() < $1::pg_lsn as behind',
      [row?.lsn],
    );
    if (state?.behind === false) return;
    await sleep(100);
  }
  throw new Error('the replica did not replay the seeded data within 120 s');
}

/** Transactions committed in the benchmark database of one server (each read outside a unit of work is one). */
export async function committedTransactions(server: PrivatePostgres): Promise<number> {
  const [row] = await server.query<{ n: string }>(
    'select xact_commit::text as n from pg_stat_database where datname = $1',
    [BENCH_DATABASE],
  );
  return Number(row?.n ?? Number.NaN);
}

/**
 * PostgreSQL 15 backends publish their counters to pg_stat_database when they go idle, but at most once a second:
 * one that published less than a second before going idle waits for its idle timer (PGSTAT_IDLE_INTERVAL, 10 s).
 * After a load, wait this long before reading the counters (measured: 2.5 s left hundreds of reads unseen).
 */
export const STATS_FLUSH_MS = 11_000;

export { PrivatePostgres };
