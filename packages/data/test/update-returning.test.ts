/**
 * repository.update gives back the row as the UPDATE left it. Where the dialect has UPDATE ... RETURNING
 * (PostgreSQL, SQLite) that is one statement, not an UPDATE and then a SELECT: seen by the query observer. Elsewhere the
 * row is read back; the result is the same on every database.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type Database, Migrator, openDatabase, type QueryEvent } from '../src/index.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

onEachDatabase('update returns the updated row', (db) => {
  let database: Database;
  const events: QueryEvent[] = [];

  before(async () => {
    database = await openDatabase(requireUrl(db), { connectAttempts: 1, onQuery: (e) => events.push(e) });
    await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
  });
  after(() => database.close());

  it('the row as changed, in one statement where the dialect returns it', async () => {
    const repo = database.repository(authors);
    const created = await repo.create({ email: 'returning@example.com', name: 'Before' });
    events.length = 0;
    const updated = await repo.update(created.id, { name: 'After', score: 3 });
    const operations = events.map((e) => e.operation);
    assert.deepEqual(operations, db.kind === 'mariadb' ? ['update', 'select'] : ['update']);
    assert.deepEqual(
      { ...updated, updated_at: undefined },
      { ...created, name: 'After', score: 3, updated_at: undefined },
    );
    assert.ok(updated && updated.updated_at >= created.updated_at);
    assert.deepEqual(updated, await repo.get(created.id));
    assert.equal(await repo.update('00000000-0000-0000-0000-000000000000', { name: 'Nobody' }), undefined);
  });
});
