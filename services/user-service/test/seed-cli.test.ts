/**
 * `user-service seed` (a bulk load: Database.bulkLoad) on every database: it adds the users it says, leaves the
 * users table with fresh planner statistics (issue 13: right after `seed --users 100000` PostgreSQL estimated
 * 6.5k rows and sorted the whole table for a deep page) and with the schema the migrations made (its indexes were
 * dropped and built again), and every seeded user logs in with the seed password.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Migrator, openDatabase } from '@user-service/data';
import { onEachDatabase, plannerRowCount, requireUrl } from '@user-service/data/testing';
import { sql } from 'kysely';
import { SEED_PASSWORD, seedUser } from '../src/cli/seed.command.js';
import { MIGRATIONS_DIR } from '../src/runtime.js';
import { cli } from './support/cli.js';
import { openTestApp, type TestApp } from './support/test-app.js';

const USERS = 300;
const MORE = 40;

onEachDatabase('seed command', (tdb) => {
  before(async () => {
    const database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    await (await Migrator.fromDirectory(database, MIGRATIONS_DIR)).up();
    await database.close();
  });

  it('adds the users and updates the planner’s statistics of the users table', async () => {
    const result = await cli(tdb, ['seed', '--users', String(USERS), '--batch', '100']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`seeded ${USERS} users in .*statistics updated \\(ANALYZE`));
    const database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    try {
      assert.equal(await plannerRowCount(database, 'users'), USERS);
    } finally {
      await database.close();
    }
  });

  it('leaves the schema as the migrations made it (migrate check is clean)', async () => {
    const result = await cli(tdb, ['migrate', 'check']);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  });

  it('adds more users after those already there, numbered on, indexes kept', async () => {
    const result = await cli(tdb, ['seed', '--users', String(MORE)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`numbered ${USERS}\\.\\.${USERS + MORE - 1}`));
    const check = await cli(tdb, ['migrate', 'check']);
    assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  });

  it('refuses to seed users that are already there (a unique constraint), adding none', async () => {
    const result = await cli(tdb, ['seed', '--users', '5', '--start', String(USERS - 2)]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /unique|duplicate/i);
    assert.doesNotMatch(`${result.stdout}${result.stderr}`, /\$argon2/, 'a password hash was printed');
    const database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    try {
      const rows = await database.query((db) =>
        db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll().as('n'))
          .execute(),
      );
      assert.equal(Number(rows[0]?.n), USERS + MORE);
    } finally {
      await database.close();
    }
  });

  it('builds the indexes once over the whole table when a load at least doubles it, duplicates still refused', async () => {
    const database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    const users = async () =>
      Number(
        (
          await database.query((db) =>
            db
              .selectFrom('users')
              .select((eb) => eb.fn.countAll().as('n'))
              .execute(),
          )
        )[0]?.n,
      );
    // PostgreSQL gives a rebuilt index a new oid: the proof that the load dropped and built it (elsewhere the
    // result, a clean migrate check, is what can be seen).
    const indexOid = async () =>
      tdb.kind === 'postgres'
        ? String(
            (
              await database.query((db) =>
                sql<{ oid: string }>`select 'ix_users_created_at'::regclass::oid as oid`.execute(db),
              )
            ).rows[0]?.oid,
          )
        : undefined;
    try {
      const had = await users();
      const oid = await indexOid();
      const duplicate = await cli(tdb, ['seed', '--users', String(had), '--start', String(had - 1)]);
      assert.notEqual(duplicate.code, 0, 'a doubling load with one duplicate must fail');
      assert.match(duplicate.stderr, /unique|duplicate/i);
      assert.equal(await users(), had, 'the failed load left rows behind');
      const afterFailure = await cli(tdb, ['migrate', 'check']);
      assert.equal(
        afterFailure.code,
        0,
        `indexes lost by a failed load:\n${afterFailure.stdout}\n${afterFailure.stderr}`,
      );
      assert.equal(await indexOid(), oid, 'the failed load changed the index');

      const grow = await cli(tdb, ['seed', '--users', String(had)]);
      assert.equal(grow.code, 0, grow.stderr);
      assert.equal(await users(), 2 * had);
      const check = await cli(tdb, ['migrate', 'check']);
      assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
      if (tdb.kind === 'postgres') assert.notEqual(await indexOid(), oid, 'the index was maintained, not rebuilt');
    } finally {
      await database.close();
    }
  });

  describe('seeded users', () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(tdb);
    });
    after(() => t?.close());

    it('log in with the seed password, by username or email', async () => {
      for (const [i, key] of [
        [0, 'username'],
        [USERS - 1, 'email'],
        [USERS + MORE - 1, 'username'],
      ] as const) {
        const user = seedUser(i, 'unused');
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: user[key], password: SEED_PASSWORD },
        });
        assert.equal(res.statusCode, 200, `user #${i}: ${res.body}`);
      }
      const wrong = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: seedUser(1, 'unused').username, password: `${SEED_PASSWORD}-not` },
      });
      assert.equal(wrong.statusCode, 401);
    });
  });
});
