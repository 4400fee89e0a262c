/**
 * `user-service seed` leaves the users table with fresh planner statistics on every database (issue 13: right
 * after `seed --users 100000` PostgreSQL estimated 6.5k rows and sorted the whole table for a deep page).
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { Migrator, openDatabase } from '@user-service/data';
import { onEachDatabase, plannerRowCount, requireUrl } from '@user-service/data/testing';
import { MIGRATIONS_DIR } from '../src/runtime.js';
import { cli } from './support/cli.js';

const USERS = 300;

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
});
