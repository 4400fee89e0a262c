/**
 * Database.analyze: after a bulk load the planner's statistics are up to date on every database (issue 13:
 * right after `seed` PostgreSQL estimated 6.5k rows of 100k and sorted the whole table for a deep page). Each
 * database is asked, in its own catalogue, what its planner now knows of the table.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type Database, Migrator, openDatabase } from '../src/index.js';
import { plannerRowCount } from '../src/testing/planner-stats.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

const ROWS = 500;

onEachDatabase('analyze after a bulk load', (tdb) => {
  let database: Database;

  before(async () => {
    database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
  });
  after(() => database?.close());

  it('brings the planner’s row count to what the table holds', async () => {
    const before = await plannerRowCount(database, 'authors');
    await database
      .repository(authors)
      .createMany(Array.from({ length: ROWS }, (_, i) => ({ email: `bulk-${i}@example.com`, name: `Bulk ${i}` })));
    // Not yet known right after the load (on MariaDB automatic recalculation may already have run: then it
    // must at least not be what analyze is about to say).
    assert.notEqual(before, ROWS);
    await database.analyze(['authors']);
    assert.equal(await plannerRowCount(database, 'authors'), ROWS);
  });

  it('refuses a table that does not exist, as a clear error', async () => {
    await assert.rejects(database.analyze(['no_such_table']));
  });
});
