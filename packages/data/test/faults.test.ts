import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import {
  type Database,
  DatabaseUnavailableError,
  DatabaseUrlError,
  Migrator,
  openDatabase,
  parseDatabaseUrl,
} from '../src/index.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';
import { FreezableProxy } from './support/freezable-proxy.js';

/** How long `promise` takes to settle, and how. */
async function timed(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await promise;
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

function sleepQuery(database: Database, seconds: number) {
  return database.kind === 'postgres' ? sql`select pg_sleep(${seconds})` : sql`select sleep(${seconds})`;
}

async function backendId(database: Database): Promise<string> {
  const q =
    database.kind === 'postgres'
      ? sql<{ id: unknown }>`select pg_backend_pid() as id`
      : sql<{ id: unknown }>`select connection_id() as id`;
  return String((await q.execute(database.kysely)).rows[0]?.id);
}

/**
 * Statements still running in this suite's database whose text starts with `prefix` (seen from another session).
 * Only this database's: test files run side by side, and another file's sleeping statement is not this one's.
 */
async function running(database: Database, prefix: string): Promise<number> {
  const q =
    database.kind === 'postgres'
      ? sql<{ n: unknown }>`select count(*) as n from pg_stat_activity
          where datname = current_database() and query like ${`${prefix}%`}`
      : sql<{ n: unknown }>`select count(*) as n from information_schema.processlist
          where db = database() and info like ${`${prefix}%`}`;
  return Number((await q.execute(database.kysely)).rows[0]?.n);
}

onEachDatabase(
  'query timeouts',
  (tdb) => {
    let database: Database;
    before(async () => {
      database = await openDatabase(requireUrl(tdb), {
        connectAttempts: 1,
        pool: { size: 1, maxOverflow: 0, queryTimeoutMs: 300 },
      });
      await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
    });
    after(() => database.close());

    it('fails a query that outlives queryTimeoutMs with DatabaseUnavailableError, cancels it, replaces its connection', async () => {
      const first = await backendId(database);
      const { ms, error } = await timed(sleepQuery(database, 3).execute(database.kysely));
      assert.ok(error, 'the slow query failed');
      const mapped = database.dialect.mapError(error);
      assert.ok(mapped instanceof DatabaseUnavailableError, String(error));
      assert.match(mapped.message, /within 300 ms/);
      assert.ok(ms >= 290 && ms < 1500, `failed after ${Math.round(ms)} ms`);
      // The pool has one connection: had the timed-out one gone back, this would queue behind the sleep.
      const next = await timed(backendId(database));
      assert.equal(next.error, undefined);
      assert.ok(next.ms < 1000, `next query took ${Math.round(next.ms)} ms`);
      assert.notEqual(await backendId(database), first, 'the timed-out connection was replaced');
      // The server stopped the statement too (cancel / KILL QUERY), it does not run on for 3 s.
      let left = 1;
      for (let i = 0; i < 20 && left > 0; i++) {
        left = await running(database, database.kind === 'postgres' ? 'select pg_sleep' : 'select sleep');
        if (left > 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(left, 0, 'the statement was cancelled on the server');
    });

    it('bounds a write waiting for a row lock, in a repository and in a unit of work', async () => {
      const repo = database.repository(authors);
      const row = await repo.create({ email: `t-${tdb.kind}@x.io` });
      // Another session holds the row's lock in an open transaction.
      const other = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked = () => {};
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holder = other.kysely.transaction().execute(async (trx) => {
        await trx.updateTable('authors').set({ name: 'holder' }).where('id', '=', row.id).execute();
        locked();
        await released;
      });
      try {
        await isLocked;
        const direct = await timed(repo.update(row.id, { name: 'waiter' }));
        assert.ok(direct.error instanceof DatabaseUnavailableError, String(direct.error));
        assert.ok(direct.ms < 1500, `${Math.round(direct.ms)} ms`);
        const inUnit = await timed(
          database.unitOfWork(async (uow) => {
            await uow.repository(authors).count();
            await uow.repository(authors).update(row.id, { name: 'waiter' });
          }),
        );
        assert.ok(inUnit.error instanceof DatabaseUnavailableError, String(inUnit.error));
        assert.ok(inUnit.ms < 1500, `${Math.round(inUnit.ms)} ms`);
      } finally {
        release();
        await holder;
        await other.close();
      }
      assert.equal((await repo.get(row.id))?.name, 'holder');
    });

    it('runs migrations without the bound: they may take longer than a query may', async () => {
      const { error } = await timed(
        database.dialect.withMigrationLock(database.kysely, (db) => sleepQuery(database, 0.6).execute(db)),
      );
      assert.equal(error, undefined);
    });
  },
  ['postgres', 'mariadb'],
);

onEachDatabase(
  'a frozen server',
  (tdb) => {
    let database: Database;
    let proxy: FreezableProxy;
    before(async () => {
      const url = new URL(requireUrl(tdb));
      const parsed = parseDatabaseUrl(url.toString());
      proxy = new FreezableProxy('127.0.0.1', parsed.kind === 'sqlite' ? 0 : parsed.port);
      url.port = String(await proxy.start());
      database = await openDatabase(url.toString(), {
        connectAttempts: 1,
        pool: { size: 2, maxOverflow: 0, queryTimeoutMs: 400, acquireTimeoutMs: 600 },
      });
      await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
    });
    after(async () => {
      proxy.thaw();
      await database.close().catch(() => {});
      await proxy.stop();
    });

    it('fails each query within its bound, opening new connections included, and serves once it thaws', async () => {
      const repo = database.repository(authors);
      await repo.create({ email: 'before@x.io' });
      proxy.freeze();
      // The pooled connections answer nothing: the query bound (400 ms) ends these.
      const pooled = await Promise.all([timed(repo.count()), timed(repo.count())]);
      for (const { ms, error } of pooled) {
        assert.ok(error instanceof DatabaseUnavailableError, String(error));
        assert.ok(ms < 1500, `pooled query failed after ${Math.round(ms)} ms`);
      }
      // Those connections are gone; a new one gets no answer to its start-up: the acquire bound (600 ms) ends it.
      const fresh = await timed(repo.count());
      assert.ok(fresh.error instanceof DatabaseUnavailableError, String(fresh.error));
      assert.ok(fresh.ms < 2000, `a connect to the frozen server failed after ${Math.round(fresh.ms)} ms`);
      // More callers than connections: the waiters are bounded too.
      const crowd = await Promise.all(
        [1, 2, 3, 4, 5].map(() => timed(repo.create({ email: `${Math.random()}@x.io` }))),
      );
      for (const { ms, error } of crowd) {
        assert.ok(error instanceof DatabaseUnavailableError, String(error));
        assert.ok(ms < 2500, `a waiting caller failed after ${Math.round(ms)} ms`);
      }
      proxy.thaw();
      const back = await timed(repo.count());
      assert.equal(back.error, undefined, String(back.error));
      assert.ok(back.ms < 1000, `first query after the thaw took ${Math.round(back.ms)} ms`);
      assert.equal(await repo.count(), 1, 'nothing written while frozen');
    });

    it('ping({timeoutMs}) gives up in time however long the pool would wait', async () => {
      proxy.freeze();
      try {
        const { ms, error } = await timed(database.ping({ timeoutMs: 200 }));
        assert.ok(error instanceof DatabaseUnavailableError, String(error));
        assert.ok(ms < 450, `ping gave up after ${Math.round(ms)} ms`);
      } finally {
        proxy.thaw();
      }
      await database.ping({ timeoutMs: 2000 });
    });

    it('bounds opening a database on a frozen server by the acquire timeout', async () => {
      proxy.freeze();
      try {
        const { ms, error } = await timed(
          openDatabase(`${tdb.kind === 'postgres' ? 'postgres' : 'mysql'}://root@127.0.0.1:${proxy.port}/x`, {
            connectAttempts: 2,
            connectDelayMs: 10,
            pool: { acquireTimeoutMs: 300 },
          }),
        );
        assert.ok(error instanceof DatabaseUnavailableError, String(error));
        assert.match((error as Error).message, /after 2 attempt/);
        assert.ok(ms < 1500, `gave up after ${Math.round(ms)} ms`);
      } finally {
        proxy.thaw();
      }
    });
  },
  ['postgres', 'mariadb'],
);

onEachDatabase(
  'permanent errors at start-up',
  (tdb) => {
    const attempt = async (url: string) => {
      const retries: unknown[] = [];
      const result = await timed(
        openDatabase(url, { connectAttempts: 5, connectDelayMs: 1000, onConnectRetry: (_a, _d, e) => retries.push(e) }),
      );
      return { ...result, retries };
    };
    const withPath = (path: string, user?: string, password?: string) => {
      const url = new URL(requireUrl(tdb));
      url.pathname = `/${path}`;
      if (user !== undefined) url.username = user;
      if (password !== undefined) url.password = password;
      return url.toString();
    };

    it('a database that does not exist fails at once, with the server saying so', async () => {
      const { ms, error, retries } = await attempt(withPath('no_such_database_here'));
      assert.ok(error instanceof DatabaseUrlError, String(error));
      assert.match((error as Error).message, /no_such_database_here/);
      assert.match((error as Error).message, /does not exist|Unknown database/);
      assert.match((error as Error).message, /not retried/);
      assert.deepEqual(retries, []);
      assert.ok(ms < 1000, `${Math.round(ms)} ms`);
    });

    it('refused credentials fail at once, the password never shown', async () => {
      // The shared PostgreSQL trusts every local role, so an unknown role is what it refuses (28000);
      // MariaDB's root has no password, so giving one is refused (1045).
      const url =
        tdb.kind === 'postgres'
          ? withPath('postgres', 'no_such_role_here', 'pw-Secret-1')
          : withPath('test', 'root', 'pw-Secret-1');
      const { ms, error, retries } = await attempt(url);
      assert.ok(error instanceof DatabaseUrlError, String(error));
      assert.match((error as Error).message, /no_such_role_here|Access denied/);
      assert.doesNotMatch((error as Error).message, /pw-Secret-1/);
      assert.deepEqual(retries, []);
      assert.ok(ms < 1000, `${Math.round(ms)} ms`);
    });
  },
  ['postgres', 'mariadb'],
);

describe('permanent errors, classified per dialect', () => {
  it('a SQLite file that is not a database fails at once with DatabaseUrlError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'us-notadb-'));
    try {
      const file = join(dir, 'app.db');
      writeFileSync(file, 'this is not a database, only some text that is long enough to hold a header');
      await assert.rejects(
        openDatabase(`sqlite:///${file}`, { connectAttempts: 5, connectDelayMs: 1000 }),
        (e: unknown) => e instanceof DatabaseUrlError && /not a database/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('knows which driver errors retrying cannot fix', async () => {
    const { loadDialect } = await import('../src/dialects/index.js');
    const pg = await loadDialect('postgres');
    const my = await loadDialect('mysql');
    const lite = await loadDialect('sqlite');
    for (const code of ['3D000', '28P01', '28000', '42501']) assert.ok(pg.isPermanentError({ code }), code);
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', '57P03', '53300', 'QUERY_TIMEOUT'])
      assert.ok(!pg.isPermanentError({ code }), code);
    for (const errno of [1044, 1045, 1049, 1698]) assert.ok(my.isPermanentError({ errno }), String(errno));
    for (const errno of [1040, 2013]) assert.ok(!my.isPermanentError({ errno }), String(errno));
    assert.ok(!my.isPermanentError({ code: 'ECONNREFUSED' }));
    assert.ok(lite.isPermanentError({ code: 'SQLITE_NOTADB' }));
    assert.ok(!lite.isPermanentError({ code: 'SQLITE_BUSY' }));
    // Met after start-up (the database dropped, the password changed), they are an outage: 503, not 500.
    assert.ok(pg.mapError({ code: '3D000' }) instanceof DatabaseUnavailableError);
    assert.ok(my.mapError({ errno: 1045 }) instanceof DatabaseUnavailableError);
  });
});
