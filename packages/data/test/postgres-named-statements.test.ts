/**
 * PostgreSQL runs the data layer's queries as named (server-side prepared) statements when it talks to the server
 * directly: repeated lookups are parsed and planned once per connection. Behind a pooler in transaction mode
 * (PgBouncer, `?pgbouncer=true` or detected) they stay unnamed. Seen from the server: pg_prepared_statements,
 * asked on the same connection (a pool of one). Also: a statement whose result type a migration changed is
 * prepared again, and the number of names per connection is capped.
 * Needs the shared PostgreSQL (and pgbouncer for the pooler case); skipped without them, except with CI=true.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { sql } from 'kysely';
import { postgresDialect } from '../src/dialects/postgres.js';
import { type Database, DatabaseUnavailableError, Migrator, openDatabase } from '../src/index.js';
import { type PgBouncer, pgbouncerForNewDatabase, pgbouncerUnavailable } from '../src/testing/pgbouncer.js';
import { createServerDatabase, type ServerDatabase, serverReachable } from '../src/testing/server-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const reachable = await serverReachable('postgres');
const serverUnavailable = reachable === true ? undefined : reachable;
const bouncerUnavailable = serverUnavailable ?? (await pgbouncerUnavailable());
const ONE_CONNECTION = { connectAttempts: 1, pool: { size: 1, maxOverflow: 0 } };

function skipOrFail(t: TestContext, reason: string | undefined): boolean {
  if (!reason) return false;
  if (inCi) throw new Error(`${reason}: CI=true requires the PostgreSQL tests to run`);
  t.skip(reason);
  return true;
}

/** The statements the connection of a one-connection pool has prepared, as the server lists them. */
async function prepared(database: Database): Promise<{ name: string; statement: string }[]> {
  const { rows } = await sql<{ name: string; statement: string }>`
    select name, statement from pg_prepared_statements`.execute(database.kysely);
  return rows;
}

async function authorLookups(database: Database): Promise<void> {
  const repo = database.repository(authors);
  const created = await repo.create({ email: `a${Math.random()}@example.com`, name: 'Named' });
  for (let i = 0; i < 5; i++) assert.equal((await repo.get(created.id))?.name, 'Named');
}

const lookupsOfAuthors = (rows: { name: string; statement: string }[]) =>
  rows.filter((row) => /^select .* from "authors" where "id" = \$1/.test(row.statement));

describe('PostgreSQL named prepared statements', { timeout: 120_000 }, () => {
  let server: ServerDatabase | undefined;
  let database: Database | undefined;

  before(async () => {
    if (serverUnavailable) return;
    server = await createServerDatabase('postgres', { prefix: 'us_named' });
    database = await openDatabase(server.url, ONE_CONNECTION);
    await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
  });

  after(async () => {
    await database?.close();
    await server?.drop();
  });

  it('repeated lookups run as one named statement, straight to PostgreSQL', async (t) => {
    if (skipOrFail(t, serverUnavailable) || !database) return;
    await authorLookups(database);
    const lookups = lookupsOfAuthors(await prepared(database));
    assert.equal(lookups.length, 1, 'the lookup by id is not a named prepared statement');
    assert.match(lookups[0]!.name, /^k\d+_/);
  });

  it('stays unnamed with ?pgbouncer=true', async (t) => {
    if (skipOrFail(t, serverUnavailable) || !server) return;
    const unnamed = await openDatabase(`${server.url}?pgbouncer=true`, ONE_CONNECTION);
    try {
      await authorLookups(unnamed);
      assert.deepEqual(await prepared(unnamed), []);
    } finally {
      await unnamed.close();
    }
  });

  it('prepares again a statement whose result type a schema change altered', async (t) => {
    if (skipOrFail(t, serverUnavailable) || !database) return;
    const db = database;
    const select = (id: string) =>
      sql<Record<string, unknown>>`select * from authors where id = ${id}`.execute(db.kysely);
    const created = await db.repository(authors).create({ email: 'stale@example.com', name: 'Stale' });
    await select(created.id);
    await select(created.id);
    assert.ok(
      (await prepared(db)).some((row) => row.statement.startsWith('select * from authors')),
      'select * was not named',
    );
    await sql`alter table authors add column extra integer default 7`.execute(db.kysely);
    try {
      // Outside a transaction: run again at once, planned for the new columns.
      assert.equal((await select(created.id)).rows[0]?.extra, 7);
      await select(created.id);
      await sql`alter table authors alter column extra type bigint`.execute(db.kysely);
      // Inside one: that transaction fails, as a retryable unavailability; the next attempt prepares it afresh.
      const inTransaction = () =>
        db.kysely
          .transaction()
          .execute(
            async (trx) =>
              (await sql<{ extra: unknown }>`select * from authors where id = ${created.id}`.execute(trx)).rows[0]
                ?.extra,
          );
      await assert.rejects(inTransaction(), (error: unknown) => {
        assert.equal((error as { code?: string }).code, '0A000');
        assert.ok(postgresDialect.mapError(error) instanceof DatabaseUnavailableError);
        return true;
      });
      assert.equal(await inTransaction(), '7');
    } finally {
      await sql`alter table authors drop column extra`.execute(db.kysely);
    }
  });

  it('names at most 256 statements per connection', async (t) => {
    if (skipOrFail(t, serverUnavailable) || !database) return;
    for (let n = 1; n <= 300; n++) {
      const ids = Array.from({ length: n }, () => randomUUID());
      await sql`select id from authors where id in (${sql.join(ids)})`.execute(database.kysely);
    }
    const count = (await prepared(database)).length;
    assert.ok(count <= 256, `${count} named statements on one connection`);
    assert.ok(count >= 200, `only ${count} named statements: the IN lists were not named at all`);
  });
});

describe('PostgreSQL statements through PgBouncer (transaction pooling)', { timeout: 120_000 }, () => {
  let bouncer: PgBouncer | undefined;
  let drop: (() => Promise<void>) | undefined;

  before(async () => {
    if (bouncerUnavailable) return;
    const pooled = await pgbouncerForNewDatabase('us_named_bouncer', 1);
    bouncer = pooled.bouncer;
    drop = pooled.close;
  });

  after(async () => {
    await drop?.();
  });

  it('stays unnamed behind the pooler, stated by ?pgbouncer=true or detected', async (t) => {
    if (skipOrFail(t, bouncerUnavailable) || !bouncer) return;
    for (const url of [bouncer.url, bouncer.plainUrl]) {
      const database = await openDatabase(url, ONE_CONNECTION);
      try {
        if (url === bouncer.url) await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
        await authorLookups(database);
        // One server connection behind the pooler: every query ran on the connection asked here.
        assert.deepEqual(await prepared(database), []);
      } finally {
        await database.close();
      }
    }
  });
});
