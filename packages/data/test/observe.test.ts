import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Database, Migrator, openDatabase, type QueryEvent, UniqueViolationError } from '../src/index.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

onEachDatabase('query events and pool statistics', (tdb) => {
  let database: Database;
  const events: QueryEvent[] = [];

  before(async () => {
    database = await openDatabase(requireUrl(tdb), {
      connectAttempts: 1,
      pool: { size: 1, maxOverflow: 0 },
      onQuery: (event) => events.push(event),
    });
    await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
  });
  after(() => database.close());

  it('reports each statement with its operation, table, SQL without values, start and duration', async () => {
    events.length = 0;
    const before = Date.now();
    const repo = database.repository(authors);
    const created = await repo.create({ email: 'observed-secret@example.com', name: 'Ann' });
    await repo.get(created.id);
    await repo.update(created.id, { name: 'Bea' });
    await repo.delete(created.id);
    const ops = events.map((e) => `${e.operation} ${e.table}`);
    for (const expected of ['insert authors', 'select authors', 'update authors', 'delete authors']) {
      assert.ok(ops.includes(expected), `${expected} in ${ops.join(', ')}`);
    }
    for (const event of events) {
      assert.ok(!event.sql.includes('observed-secret'), 'parameter values never appear in the SQL text');
      assert.ok(event.durationMs >= 0 && event.durationMs < 5_000);
      assert.ok(event.startedAt >= before - 50 && event.startedAt <= Date.now() + 50, 'startedAt is epoch ms');
      assert.equal(event.error, undefined);
    }
  });

  it('reports a failed statement with its error', async () => {
    const repo = database.repository(authors);
    await repo.create({ email: 'twice@example.com' });
    events.length = 0;
    await assert.rejects(repo.create({ email: 'twice@example.com' }), UniqueViolationError);
    const failed = events.filter((e) => e.error !== undefined);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.operation, 'insert');
    assert.equal(failed[0]?.table, 'authors');
  });

  it('counts connections in use and callers waiting for one', async () => {
    const idle = database.poolStats();
    assert.equal(idle.inUse, 0);
    assert.equal(idle.waiting, 0);
    assert.equal(idle.max, 1);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    // One unit of work holds the only connection; a second one waits for it.
    const first = database.unitOfWork(async (uow) => {
      await uow.repository(authors).count();
      entered();
      await held;
    });
    await inside;
    const second = database.unitOfWork((uow) => uow.repository(authors).count());
    await new Promise((resolve) => setTimeout(resolve, 50));
    const busy = database.poolStats();
    assert.equal(busy.inUse, 1);
    assert.equal(busy.waiting, 1);
    assert.equal(busy.idle, 0);
    release();
    await Promise.all([first, second]);
    const after = database.poolStats();
    assert.equal(after.inUse, 0);
    assert.equal(after.waiting, 0);
    assert.ok(after.idle <= 1);
  });
});

describe('without an observer', () => {
  it('still counts the pool (the gauges need no query hook)', async () => {
    const database = await openDatabase('sqlite::memory:');
    try {
      await database.ping();
      assert.deepEqual(database.poolStats(), { max: 1, inUse: 0, idle: 1, waiting: 0 });
    } finally {
      await database.close();
    }
  });
});
