/**
 * Hand-written queries are typed from the table definitions (`typedQuery`, `DB`): tables and columns that do
 * not exist are compile errors. `npm run typecheck` checks the @ts-expect-error lines below; the test runs the
 * valid query on each database.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type Database, type KyselyOf, Migrator, openDatabase, typedQuery } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import { SERVICE_TABLES } from '../src/declared-tables.js';
import { MIGRATIONS_DIR } from '../src/runtime.js';

// Compile-time only: never called.
export function wrongNamesDoNotCompile(db: KyselyOf<typeof SERVICE_TABLES>) {
  // @ts-expect-error: no such column
  db.selectFrom('users').select('emial');
  // @ts-expect-error: no such table
  db.selectFrom('user');
  // @ts-expect-error: a personas column asked of users
  db.selectFrom('users').select('relation_type');
  return db.selectFrom('personas').innerJoin('users', 'users.id', 'personas.user_id').select(['users.email']);
}

onEachDatabase('typed hand-written queries', (tdb) => {
  let database: Database;
  before(async () => {
    database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    await (await Migrator.fromDirectory(database, MIGRATIONS_DIR)).up();
  });
  after(() => database.close());

  it('runs a query typed from the table definitions', async () => {
    const rows = await typedQuery(database, SERVICE_TABLES, (db) =>
      db.selectFrom('users').select(['id', 'email']).where('email', '=', 'nobody@example.com').execute(),
    );
    assert.deepEqual(rows, []);
  });
});
