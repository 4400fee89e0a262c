/**
 * A fresh, empty database per benchmark run: a temporary SQLite file, or a new database on the local
 * PostgreSQL/MariaDB server (created and dropped by the data package's test support), dropped at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createServerDatabase,
  runStatement,
  serverReachable,
  SERVER_URLS as TEST_SERVER_URLS,
} from '@user-service/data/testing/servers';
import type { DbKind } from './options.js';

export const SERVER_URLS = {
  postgres: process.env.BENCH_POSTGRES_URL ?? TEST_SERVER_URLS.postgres,
  mariadb: process.env.BENCH_MYSQL_URL ?? TEST_SERVER_URLS.mariadb,
};

export interface BenchDatabase {
  kind: DbKind;
  /** DATABASE_URL of the fresh database. */
  url: string;
  drop(): Promise<void>;
}

/** true, or why the server cannot be used. */
export async function reachable(kind: DbKind): Promise<true | string> {
  return kind === 'sqlite' ? true : serverReachable(kind, SERVER_URLS[kind]);
}

export async function createBenchDatabase(kind: DbKind): Promise<BenchDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'us-bench-'));
    return {
      kind,
      url: `sqlite:///${join(dir, 'bench.db')}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const created = await createServerDatabase(kind, { serverUrl: SERVER_URLS[kind], prefix: 'us_bench' });
  return { kind, ...created };
}

/**
 * Brings planner statistics up to date after a bulk load, as autovacuum/auto-analyze would shortly after on a
 * real server; without it PostgreSQL plans the first minutes of queries on an "empty" table.
 */
export async function analyze(db: BenchDatabase): Promise<void> {
  if (db.kind === 'sqlite') return; // SQLite's planner needs no statistics for these single-index queries.
  await runStatement(db.kind, db.url, db.kind === 'postgres' ? 'vacuum analyze users' : 'analyze table users');
}
