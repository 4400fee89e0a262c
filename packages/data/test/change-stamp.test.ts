/**
 * Database.changeStamp: a process-local cache may serve a row only while the stamp is the one it read the row
 * under, so the stamp must move on every write that could change that row: this connection's (committed or
 * not), and another connection's commit (another worker, the CLI). SQLite has it; the server databases have no
 * such counter without a round trip and must say "unknown" (undefined), never a constant.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type Database, Migrator, openDatabase } from '../src/index.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

onEachDatabase('change stamp', (tdb) => {
  let database: Database;
  let other: Database;

  before(async () => {
    database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
    // A second connection to the same database, as another process has.
    other = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
  });
  after(async () => {
    await other?.close();
    await database?.close();
  });

  if (tdb.kind !== 'sqlite') {
    it('is unknown (no stamp), before and after a write', async () => {
      assert.equal(database.changeStamp(), undefined);
      await database.repository(authors).create({ email: 'no-stamp@example.com', name: 'A' });
      assert.equal(database.changeStamp(), undefined);
    });
    return;
  }

  it('stays the same across reads', async () => {
    const stamp = database.changeStamp();
    assert.equal(typeof stamp, 'string');
    await database.repository(authors).list({ limit: 5 });
    await database.repository(authors).count({});
    assert.equal(database.changeStamp(), stamp);
  });

  it("moves on this connection's insert, update and delete", async () => {
    const repo = database.repository(authors);
    let stamp = database.changeStamp();
    const row = await repo.create({ email: 'own@example.com', name: 'Own' });
    assert.notEqual(database.changeStamp(), stamp);
    stamp = database.changeStamp();
    await repo.update(row.id, { name: 'Own, renamed' });
    assert.notEqual(database.changeStamp(), stamp);
    stamp = database.changeStamp();
    await repo.delete(row.id);
    assert.notEqual(database.changeStamp(), stamp);
  });

  it("moves when another connection commits, and not for the other's reads", async () => {
    const stamp = database.changeStamp();
    await other.repository(authors).list({ limit: 5 });
    assert.equal(database.changeStamp(), stamp);
    await other.repository(authors).create({ email: 'other@example.com', name: 'Other' });
    const moved = database.changeStamp();
    assert.notEqual(moved, stamp);
    // And it settles: nothing else changed.
    assert.equal(database.changeStamp(), moved);
  });

  it('is unknown inside a transaction of this connection', async () => {
    let inside: string | undefined = 'not read';
    await database.unitOfWork(async (uow) => {
      await uow.repository(authors).list({ limit: 1 });
      inside = database.changeStamp();
    });
    assert.equal(inside, undefined);
    assert.equal(typeof database.changeStamp(), 'string');
  });

  it('is unknown while a stream is open on this connection (its read snapshot hides other commits)', async () => {
    await database.repository(authors).create({ email: 'stream-1@example.com', name: 'S1' });
    await database.repository(authors).create({ email: 'stream-2@example.com', name: 'S2' });
    const stream = database.kysely.selectFrom('authors').selectAll().stream()[Symbol.asyncIterator]();
    assert.equal((await stream.next()).done, false);
    assert.equal(database.changeStamp(), undefined);
    await stream.return?.(undefined);
    assert.equal(typeof database.changeStamp(), 'string');
    // Read to the end, the same.
    let rows = 0;
    for await (const _ of database.kysely.selectFrom('authors').selectAll().stream()) {
      rows++;
      assert.equal(database.changeStamp(), undefined);
    }
    assert.ok(rows >= 2);
    assert.equal(typeof database.changeStamp(), 'string');
  });

  it('moves for a write inside a transaction that rolled back (a spurious move is safe, a missed one is not)', async () => {
    const stamp = database.changeStamp();
    await assert.rejects(
      database.unitOfWork(async (uow) => {
        await uow.repository(authors).create({ email: 'rolled-back@example.com', name: 'Gone' });
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.notEqual(database.changeStamp(), stamp);
  });

  it('is unknown once the database is closed', async () => {
    const closing = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    assert.equal(typeof closing.changeStamp(), 'string');
    await closing.close();
    assert.equal(closing.changeStamp(), undefined);
  });
});
