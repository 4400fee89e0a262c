/**
 * A fresh, empty database per benchmark run: a temporary SQLite file, or a new database on the local
 * PostgreSQL/MariaDB server (as packages/data's test support does), dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { DbKind } from './options.js';

export const SERVER_URLS = {
  postgres: process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  mariadb: process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
};

export interface BenchDatabase {
  kind: DbKind;
  /** DATABASE_URL of the fresh database. */
  url: string;
  drop(): Promise<void>;
}

type Admin = { run(statement: string): Promise<void>; close(): Promise<void> };

async function admin(kind: 'postgres' | 'mariadb'): Promise<Admin> {
  if (kind === 'postgres') {
    const client = new pg.Client({ connectionString: SERVER_URLS.postgres, connectionTimeoutMillis: 3000 });
    await client.connect();
    return { run: async (s) => void (await client.query(s)), close: () => client.end() };
  }
  const connection = await mysql.createConnection({ uri: SERVER_URLS.mariadb, connectTimeout: 3000 });
  return { run: async (s) => void (await connection.query(s)), close: () => connection.end() };
}

/** true, or why the server cannot be used. */
export async function reachable(kind: DbKind): Promise<true | string> {
  if (kind === 'sqlite') return true;
  try {
    const a = await admin(kind);
    await a.run('select 1');
    await a.close();
    return true;
  } catch (error) {
    return `${kind} is not reachable at ${SERVER_URLS[kind]} (${(error as Error).message})`;
  }
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
  const name = `us_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const quoted = kind === 'postgres' ? `"${name}"` : `\`${name}\``;
  const a = await admin(kind);
  try {
    await a.run(`create database ${quoted}`);
  } finally {
    await a.close();
  }
  const url = new URL(SERVER_URLS[kind]);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    drop: async () => {
      const b = await admin(kind);
      try {
        await b.run(`drop database if exists ${quoted}${kind === 'postgres' ? ' with (force)' : ''}`);
      } finally {
        await b.close();
      }
    },
  };
}

/**
 * Brings planner statistics up to date after a bulk load, as autovacuum/auto-analyze would shortly after on a
 * real server; without it PostgreSQL plans the first minutes of queries on an "empty" table.
 */
export async function analyze(db: BenchDatabase): Promise<void> {
  if (db.kind === 'sqlite') return; // SQLite's planner needs no statistics for these single-index queries.
  if (db.kind === 'postgres') {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('vacuum analyze users');
    await client.end();
    return;
  }
  const connection = await mysql.createConnection({ uri: db.url });
  await connection.query('analyze table users');
  await connection.end();
}
