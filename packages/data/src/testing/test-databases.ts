/**
 * Test support, exported as `@user-service/data/testing` so the service runs its API tests on the same list.
 * The list of databases every contract test runs on. Each test file gets its own fresh database (a temp
 * SQLite file, a new PostgreSQL database, a new MariaDB database), so files can run in parallel.
 * A server that cannot be reached is reported as a skipped suite; with CI=true it is a failing test instead.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kysely, MysqlDialect, PostgresDialect, sql } from 'kysely';
import { createPool } from 'mysql2';
import pg from 'pg';

export type TestDbKind = 'memory' | 'sqlite' | 'postgres' | 'mariadb';

export const SERVER_URLS = {
  postgres: process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  mariadb: process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
};

const inCi = process.env.CI === 'true' || process.env.CI === '1';

export interface TestDatabase {
  kind: TestDbKind;
  /** A DATABASE_URL for a fresh, empty database of this kind (undefined for memory). */
  url: string | undefined;
}

function adminKysely(kind: 'postgres' | 'mariadb'): Kysely<any> {
  const u = new URL(SERVER_URLS[kind]);
  if (kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: SERVER_URLS.postgres, max: 1, connectionTimeoutMillis: 3000 });
    pool.on('error', () => {});
    return new Kysely({ dialect: new PostgresDialect({ pool }) });
  }
  return new Kysely({
    dialect: new MysqlDialect({
      pool: createPool({
        host: u.hostname,
        port: Number(u.port || 3306),
        user: decodeURIComponent(u.username || 'root'),
        password: decodeURIComponent(u.password),
        connectionLimit: 1,
        connectTimeout: 3000,
      }),
    }),
  });
}

function withDatabase(base: string, name: string): string {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a fresh database on the server and returns its URL and a function that drops it. */
async function createServerDatabase(kind: 'postgres' | 'mariadb'): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = adminKysely(kind);
  const name = `us_test_${process.pid}_${randomBytes(3).toString('hex')}`;
  try {
    await sql`create database ${sql.id(name)}`.execute(admin);
  } catch (error) {
    await admin.destroy();
    throw error;
  }
  return {
    url: withDatabase(SERVER_URLS[kind], name),
    drop: async () => {
      const force = kind === 'postgres' ? sql` with (force)` : sql``;
      await sql`drop database if exists ${sql.id(name)}${force}`.execute(admin);
      await admin.destroy();
    },
  };
}

/**
 * Declares `suite` once per database kind, as `<title> on <kind>`. `kinds` defaults to every real database;
 * add 'memory' where the in-memory store is part of the contract.
 */
export function onEachDatabase(
  title: string,
  suite: (db: TestDatabase) => void,
  kinds: TestDbKind[] = ['sqlite', 'postgres', 'mariadb'],
): void {
  for (const kind of kinds) {
    if (kind === 'memory') {
      describe(`${title} on memory`, () => suite({ kind, url: undefined }));
      continue;
    }
    if (kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'us-test-'));
      describe(`${title} on sqlite`, () => {
        after(() => rmSync(dir, { recursive: true, force: true }));
        suite({ kind, url: `sqlite:///${join(dir, 'test.db')}` });
      });
      continue;
    }
    describeOnServer(title, kind, suite);
  }
}

// node:test needs to know at declaration time whether a suite is skipped, so reachability is probed first
// (top-level await in the test file's import of this module).
const reachable = new Map<string, string | true>();
for (const kind of ['postgres', 'mariadb'] as const) {
  const admin = adminKysely(kind);
  try {
    await sql`select 1`.execute(admin);
    reachable.set(kind, true);
  } catch (error) {
    reachable.set(kind, `${kind} is not reachable at ${SERVER_URLS[kind]} (${(error as Error).message})`);
  } finally {
    await admin.destroy();
  }
}

function describeOnServer(title: string, kind: 'postgres' | 'mariadb', suite: (db: TestDatabase) => void): void {
  const status = reachable.get(kind);
  if (status !== true) {
    if (inCi) {
      it(`${title} on ${kind}`, () => {
        throw new Error(`${status}: CI=true requires every database to run`);
      });
    } else {
      describe(`${title} on ${kind}`, { skip: status }, () => {});
    }
    return;
  }
  // The database is created in `before`, but the suite's tests need its URL when they run; the URL object is
  // filled in place so the suite can read `db.url` lazily.
  const db: TestDatabase = { kind, url: undefined };
  describe(`${title} on ${kind}`, () => {
    let drop: (() => Promise<void>) | undefined;
    before(async () => {
      const created = await createServerDatabase(kind);
      db.url = created.url;
      drop = created.drop;
    });
    after(async () => {
      await drop?.();
    });
    suite(db);
  });
}

export function requireUrl(db: TestDatabase): string {
  if (!db.url) throw new Error(`no URL for ${db.kind}`);
  return db.url;
}
