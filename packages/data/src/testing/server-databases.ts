/**
 * Throw-away databases on a PostgreSQL or MariaDB server: reachability, create, drop. Shared by the contract
 * tests (test-databases.ts) and the service's benchmark. No node:test import and no work at import time, so a
 * plain script can use it: `@user-service/data/testing/servers`.
 */
import { randomBytes } from 'node:crypto';
import { Kysely, MysqlDialect, PostgresDialect, sql } from 'kysely';
import { createPool } from 'mysql2';
import pg from 'pg';

export type ServerKind = 'postgres' | 'mariadb';

/** Server URLs the tests create their databases on (TEST_POSTGRES_URL, TEST_MYSQL_URL). */
export const SERVER_URLS: Record<ServerKind, string> = {
  postgres: process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  mariadb: process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
};

/** A one-connection Kysely on `url` for administrative statements; destroy it when done. */
export function adminKysely(kind: ServerKind, url: string = SERVER_URLS[kind]): Kysely<any> {
  if (kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 3000 });
    pool.on('error', () => {});
    return new Kysely({ dialect: new PostgresDialect({ pool }) });
  }
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  return new Kysely({
    dialect: new MysqlDialect({
      pool: createPool({
        host: u.hostname,
        port: Number(u.port || 3306),
        user: decodeURIComponent(u.username || 'root'),
        password: decodeURIComponent(u.password),
        ...(database ? { database } : {}),
        connectionLimit: 1,
        connectTimeout: 3000,
      }),
    }),
  });
}

/** Runs `fn` on an admin connection to `url` and closes it. */
export async function withAdmin<T>(kind: ServerKind, url: string, fn: (admin: Kysely<any>) => Promise<T>): Promise<T> {
  const admin = adminKysely(kind, url);
  try {
    return await fn(admin);
  } finally {
    await admin.destroy();
  }
}

/** Runs one administrative statement, written out in full (no parameters), on `url`. */
export async function runStatement(kind: ServerKind, url: string, statement: string): Promise<void> {
  await withAdmin(kind, url, (admin) => sql.raw(statement).execute(admin));
}

/** true, or a sentence saying why the server cannot be used. */
export async function serverReachable(kind: ServerKind, serverUrl: string = SERVER_URLS[kind]): Promise<true | string> {
  try {
    await withAdmin(kind, serverUrl, (admin) => sql`select 1`.execute(admin));
    return true;
  } catch (error) {
    return `${kind} is not reachable at ${serverUrl} (${(error as Error).message})`;
  }
}

export interface ServerDatabase {
  /** DATABASE_URL of the new, empty database. */
  url: string;
  /** Drops the database (forcibly closing leftover sessions on PostgreSQL). */
  drop(): Promise<void>;
}

/** Creates a database named `<prefix>_<pid>_<random>` on the server and returns its URL and its drop. */
export async function createServerDatabase(
  kind: ServerKind,
  options: { serverUrl?: string; prefix?: string } = {},
): Promise<ServerDatabase> {
  const serverUrl = options.serverUrl ?? SERVER_URLS[kind];
  const name = `${options.prefix ?? 'us_test'}_${process.pid}_${randomBytes(3).toString('hex')}`;
  await withAdmin(kind, serverUrl, (admin) => sql`create database ${sql.id(name)}`.execute(admin));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const force = kind === 'postgres' ? sql` with (force)` : sql``;
      await withAdmin(kind, serverUrl, (admin) => sql`drop database if exists ${sql.id(name)}${force}`.execute(admin));
    },
  };
}
