/**
 * The data layer through PgBouncer in transaction pooling mode (Debian's pgbouncer, started by the test in front
 * of a fresh database on the shared PostgreSQL server, 4 server connections): repository CRUD, units of work
 * that commit and roll back, more at once than the pooler has server connections, claim (FOR UPDATE SKIP
 * LOCKED), migrations (transaction-scoped advisory lock), `migrate check` (its scratch schema), and the query
 * timeout's cancel. Every test also asserts on the pooler's admin console (SHOW STATS, SHOW POOLS) or on the
 * server's pg_stat_activity that its traffic went through PgBouncer.
 * Needs pgbouncer (apt-get install pgbouncer; as root it runs as postgres) and the shared PostgreSQL; without them
 * it reports itself skipped, except with CI=true.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { sql } from 'kysely';
import { type Database, DatabaseUnavailableError, DatabaseUrlError, Migrator, openDatabase } from '../src/index.js';
import { PgBouncer, pgbouncerForNewDatabase, pgbouncerUnavailable } from '../src/testing/pgbouncer.js';
import { PrivatePostgres, privatePostgresUnavailable } from '../src/testing/private-postgres.js';
import { SERVER_URLS, serverReachable, withAdmin } from '../src/testing/server-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const reachable = await serverReachable('postgres');
const unavailable = (await pgbouncerUnavailable()) ?? (reachable === true ? undefined : reachable);

/** Server connections the pooler keeps for the database: fewer than the concurrency the tests use. */
const POOL_SIZE = 4;

describe('data layer through PgBouncer (transaction pooling)', { timeout: 120_000 }, () => {
  let bouncer: PgBouncer | undefined;
  let drop: (() => Promise<void>) | undefined;
  let database: Database | undefined;
  let dbName = '';

  const skipOrFail = (t: TestContext): boolean => {
    if (!unavailable) return false;
    if (inCi) throw new Error(`${unavailable}: CI=true requires the PgBouncer tests to run`);
    t.skip(unavailable);
    return true;
  };

  /** The shared server's view: backends connected to the test database right now, and what they run. */
  const serverBackends = () =>
    withAdmin('postgres', SERVER_URLS.postgres, async (admin) => {
      const { rows } = await sql<{ state: string | null; query: string }>`
        select state, query from pg_stat_activity where datname = ${dbName}`.execute(admin);
      return rows;
    });

  /** Runs `work` and returns how many transactions and queries PgBouncer passed to the server meanwhile. */
  const throughBouncer = async (work: () => Promise<void>): Promise<{ transactions: number; queries: number }> => {
    const before = await bouncer!.totals();
    await work();
    const after = await bouncer!.totals();
    return { transactions: after.transactions - before.transactions, queries: after.queries - before.queries };
  };

  before(async () => {
    if (unavailable) return;
    const pooled = await pgbouncerForNewDatabase('us_pgbouncer', POOL_SIZE);
    drop = pooled.close;
    bouncer = pooled.bouncer;
    dbName = pooled.database;
    // A client pool five times the pooler's: the pooler, not the client, must do the multiplexing.
    database = await openDatabase(bouncer.url, { connectAttempts: 1, pool: { size: 20, maxOverflow: 0 } });
  });

  after(async () => {
    await database?.close();
    await bouncer?.stop();
    await drop?.();
  });

  it('migrates up through the pooler (the lock is transaction-scoped) and reports no drift', async (t) => {
    if (skipOrFail(t) || !database) return;
    const migrator = await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS);
    const passed = await throughBouncer(async () => {
      assert.equal((await migrator.up()).length, 2);
    });
    // One transaction (the advisory lock's) holding every statement of the run.
    assert.ok(passed.transactions >= 1, 'no transaction went through PgBouncer');
    assert.ok(passed.queries >= 8, `only ${passed.queries} statements went through PgBouncer`);
    const check = await migrator.check();
    assert.deepEqual(check, { pending: [], drift: [] });
  });

  it('migrate check replays migrations in a scratch schema through the pooler, sees drift, leaves nothing', async (t) => {
    if (skipOrFail(t) || !database || !bouncer) return;
    const migrator = await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS);
    await sql`alter table authors add column extra integer`.execute(database.kysely);
    // Through the pooler, without ?pgbouncer=true too: the scratch schema does not rely on start-up options.
    const plain = await openDatabase(bouncer.plainUrl, { connectAttempts: 1 });
    try {
      for (const db of [database, plain]) {
        const check = await (await Migrator.fromDirectory(db, FIXTURE_MIGRATIONS)).check();
        assert.deepEqual(check.drift, ['column authors.extra exists but no migration creates it']);
      }
    } finally {
      await plain.close();
      await sql`alter table authors drop column extra`.execute(database.kysely);
    }
    assert.deepEqual((await migrator.check()).drift, []);
    const { rows } = await sql<{ n: string }>`
      select count(*) as n from pg_namespace where nspname like 'migrate_check_%'`.execute(database.kysely);
    assert.equal(Number(rows[0]?.n), 0, 'a scratch schema was left behind');
  });

  it('repository CRUD', async (t) => {
    if (skipOrFail(t) || !database) return;
    const repo = database.repository(authors);
    const passed = await throughBouncer(async () => {
      const created = await repo.create({ email: 'crud@example.com', name: 'Crud' });
      assert.equal((await repo.get(created.id))?.name, 'Crud');
      assert.equal((await repo.update(created.id, { score: 7 }))?.score, 7);
      const page = await repo.list({ filters: { email: 'crud@example.com' } });
      assert.deepEqual(
        page.items.map((a) => a.score),
        [7],
      );
      assert.equal(await repo.delete(created.id), true);
      assert.equal(await repo.get(created.id), undefined);
    });
    assert.ok(passed.transactions >= 6, `only ${passed.transactions} transactions went through PgBouncer`);
  });

  it('units of work commit and roll back, 30 at once over 4 server connections, each its own transaction', async (t) => {
    if (skipOrFail(t) || !database || !bouncer) return;
    const db = database;
    let peakServerBackends = 0;
    let sawWaiting = false;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const backends = await serverBackends();
        peakServerBackends = Math.max(peakServerBackends, backends.length);
        if (Number((await bouncer.pool()).cl_waiting) > 0) sawWaiting = true;
        await sleep(20);
      }
    })();
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        db.unitOfWork(async (uow) => {
          const repo = uow.repository(authors);
          const row = await repo.create({ email: `uow-${i}@example.com`, name: `uow ${i}` });
          // Held open a moment (idle in transaction, which keeps its server connection) so that the
          // transactions overlap and clients queue for the pooler's 4 server connections.
          await sleep(100);
          // Its own uncommitted row is visible: every statement of the transaction ran on one server connection.
          assert.equal((await repo.get(row.id))?.name, `uow ${i}`);
          if (i % 3 === 0) throw new Error(`rolled back ${i}`);
          return row.id;
        }),
      ),
    );
    watching = false;
    await watcher;
    const failed = results.filter((r) => r.status === 'rejected');
    assert.deepEqual(
      failed.map((r) => (r as PromiseRejectedResult).reason.message).sort(),
      Array.from({ length: 10 }, (_, k) => `rolled back ${k * 3}`).sort(),
    );
    const repo = db.repository(authors);
    assert.equal(await repo.count({ email: { contains: 'uow-' } }), 20);
    for (let i = 0; i < 30; i++) {
      const found = await repo.getBy({ email: `uow-${i}@example.com` });
      assert.equal(found !== undefined, i % 3 !== 0, `uow ${i}`);
    }
    // The server saw at most the pooler's connections (plus this test's admin one), never the client's 20.
    assert.ok(peakServerBackends >= 1, 'no server backend seen: was the traffic somewhere else?');
    assert.ok(peakServerBackends <= POOL_SIZE, `${peakServerBackends} server connections for a pool of ${POOL_SIZE}`);
    assert.ok(sawWaiting, 'no client ever waited for a server connection: the pooler did not multiplex');
    await repo.deleteWhere({ email: { contains: 'uow-' } });
  });

  it('claim (FOR UPDATE SKIP LOCKED) hands each row to one of two concurrent units of work', async (t) => {
    if (skipOrFail(t) || !database) return;
    const db = database;
    const repo = db.repository(authors);
    await repo.createMany(Array.from({ length: 6 }, (_, i) => ({ email: `claim-${i}@example.com`, score: 0 })));
    const claimer = () =>
      db.unitOfWork(async (uow) => {
        const claimed = await uow.repository(authors).claim({
          filters: { email: { contains: 'claim-' }, score: 0 },
          orderBy: { column: 'email' },
          limit: 3,
          patch: { score: 1 },
        });
        // Both hold their locks at once: the second skips the first's rows instead of waiting for them.
        await sleep(200);
        return claimed.map((a) => a.email);
      });
    const passed = await throughBouncer(async () => {
      const [a, b] = await Promise.all([claimer(), claimer()]);
      assert.equal(a.length, 3);
      assert.equal(b.length, 3);
      assert.equal(new Set([...a, ...b]).size, 6, `claimed twice: ${a} / ${b}`);
    });
    assert.ok(passed.transactions >= 2, `only ${passed.transactions} transactions went through PgBouncer`);
    await repo.deleteWhere({ email: { contains: 'claim-' } });
  });

  for (const variant of ['?pgbouncer=true', 'detected (no option)'] as const) {
    it(`a query past its timeout is cancelled on the server through the pooler: ${variant}`, async (t) => {
      if (skipOrFail(t) || !bouncer) return;
      const url = variant === '?pgbouncer=true' ? bouncer.url : bouncer.plainUrl;
      const timed = await openDatabase(url, { connectAttempts: 1, pool: { queryTimeoutMs: 300 } });
      try {
        const marker = `cancel_probe_${Math.random().toString(36).slice(2)}`;
        const started = performance.now();
        await assert.rejects(
          sql`select pg_sleep(${5}), ${sql.lit(marker)}::text`.execute(timed.kysely),
          (error: unknown) => {
            const mapped = timed.dialect.mapError(error);
            return mapped instanceof DatabaseUnavailableError || (error as { code?: string }).code === 'QUERY_TIMEOUT';
          },
        );
        assert.ok(performance.now() - started < 1_500, 'the timeout did not bound the query');
        // Without the cancel the server would sleep on for 5 s holding one of the pooler's 4 connections.
        const sleeping = async () =>
          (await serverBackends()).filter((b) => b.state === 'active' && b.query.includes(marker)).length;
        const deadline = performance.now() + 1_500;
        while ((await sleeping()) > 0 && performance.now() < deadline) await sleep(50);
        assert.equal(await sleeping(), 0, 'the timed-out query still runs on the server: the cancel did not reach it');
        // The pool works on.
        const { rows } = await sql<{ one: number }>`select 1 as one`.execute(timed.kysely);
        assert.equal(rows[0]?.one, 1);
        const pool = await bouncer.pool();
        assert.equal(Number(pool.sv_active), 0, 'a server connection is still busy');
      } finally {
        await timed.close();
      }
    });
  }

  it('every statement above reached PostgreSQL through the pooler', async (t) => {
    if (skipOrFail(t) || !bouncer) return;
    const totals = await bouncer.totals();
    assert.ok(totals.transactions >= 50, `PgBouncer passed only ${totals.transactions} transactions`);
    const pool = await bouncer.pool();
    assert.equal(pool.pool_mode, 'transaction');
    assert.doesNotMatch(bouncer.log(), /FATAL/);
  });
});

describe('PgBouncer in front of a PostgreSQL that freezes while a query times out', { timeout: 60_000 }, () => {
  const why = unavailable ?? (process.getuid?.() === 0 ? undefined : 'needs root for a private PostgreSQL');
  let primary: PrivatePostgres | undefined;
  let bouncer: PgBouncer | undefined;

  before(async () => {
    if (why || (await privatePostgresUnavailable())) return;
    primary = new PrivatePostgres();
    await primary.init();
    await primary.start();
    bouncer = await PgBouncer.start({ host: '127.0.0.1', port: primary.port, database: 'postgres', user: 'postgres' });
  });

  after(async () => {
    await bouncer?.stop();
    await primary?.destroy();
  });

  // PgBouncer 1.18 exits (FATAL "disconnect_client(): bad client state: 0", pgbouncer issue #801) when the sender
  // of a cancel closes its connection before the server the cancel was forwarded to has answered. The cancel
  // that follows a query timeout must not do that, however long the server stays frozen.
  it('the cancel after a query timeout does not bring the pooler down when the server thaws', async (t) => {
    const reason = why ?? (await privatePostgresUnavailable());
    if (reason) {
      if (inCi) throw new Error(`${reason}: CI=true requires the PgBouncer tests to run`);
      t.skip(reason);
      return;
    }
    if (!primary || !bouncer) throw new Error('not started');
    const db = await openDatabase(bouncer.url, { connectAttempts: 1, pool: { queryTimeoutMs: 500 } });
    try {
      await sql`select 1`.execute(db.kysely);
      primary.freeze();
      try {
        await assert.rejects(sql`select 1`.execute(db.kysely));
        // Longer than every bound on this side (the query's, CANCEL_TIMEOUT_MS): the server is still frozen.
        await sleep(3_000);
      } finally {
        primary.thaw();
      }
      await sleep(1_000);
      assert.doesNotMatch(bouncer.log(), /FATAL/);
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db.kysely);
      assert.equal(rows[0]?.one, 1);
    } finally {
      await db.close();
    }
  });
});

describe('the pgbouncer option of a PostgreSQL DATABASE_URL', () => {
  it('accepts true, false, 1, 0 and refuses anything else with a clear message', async () => {
    await assert.rejects(
      openDatabase('postgres://postgres@127.0.0.1:1/x?pgbouncer=yes', { connectAttempts: 1 }),
      (error: unknown) =>
        error instanceof DatabaseUrlError && /pgbouncer must be true or false, not "yes"/.test(error.message),
    );
    for (const value of ['true', 'false', '1', '0']) {
      await assert.rejects(
        openDatabase(`postgres://postgres@127.0.0.1:1/x?pgbouncer=${value}`, {
          connectAttempts: 1,
        }),
        (error: unknown) => error instanceof DatabaseUnavailableError,
        `pgbouncer=${value}`,
      );
    }
  });
});
