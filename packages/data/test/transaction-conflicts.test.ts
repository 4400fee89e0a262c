// Units of work that the database rolls back to break a deadlock run again, and concurrent units of work that
// only touch their own rows do not deadlock in the first place (MySQL/MariaDB at READ COMMITTED).
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import {
  DatabaseUnavailableError,
  type DataStore,
  type RepositoryProvider,
  TransactionConflictError,
  UniqueViolationError,
} from '../src/index.js';
import { onEachDatabase } from '../src/testing/test-databases.js';
import { authors, books } from './support/fixture-tables.js';
import { openMigratedStore } from './support/open-store.js';

/** Resolves once `parties` callers have arrived; each caller waits for all. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => {
    release = resolve;
  });
  return () => {
    arrived++;
    if (arrived === parties) release();
    return all;
  };
}

async function clear(store: DataStore): Promise<void> {
  const repo = store.repository(authors);
  for (const a of (await repo.list({ limit: 1000 })).items) await repo.delete(a.id);
}

onEachDatabase('unit of work retried after a conflict', (db) => {
  let store: DataStore;
  let close: () => Promise<void>;

  before(async () => {
    ({ store, close } = await openMigratedStore(db));
  });
  after(() => close());
  beforeEach(() => clear(store));

  it('runs the work again when it fails with a conflict, up to four runs, then reports the database unavailable', async () => {
    let runs = 0;
    const error = await store
      .unitOfWork(async (uow) => {
        runs++;
        await uow.repository(authors).create({ email: `run${runs}@conflict.io` });
        throw new TransactionConflictError();
      })
      .then(
        () => assert.fail('the unit of work resolved'),
        (e: unknown) => e,
      );
    assert.equal(runs, 4);
    assert.ok(error instanceof TransactionConflictError);
    // A caller that knows only "unavailable" (the service's 503 + Retry-After) still recognises it.
    assert.ok(error instanceof DatabaseUnavailableError);
    // Every run was rolled back: none of the four rows is there.
    assert.equal((await store.repository(authors).list({ limit: 10 })).items.length, 0);
  });

  it('commits the run that succeeds after a conflict, once', async () => {
    let runs = 0;
    const author = await store.unitOfWork(async (uow) => {
      runs++;
      const created = await uow.repository(authors).create({ email: `retry${runs}@conflict.io` });
      if (runs < 3) throw new TransactionConflictError();
      return created;
    });
    assert.equal(runs, 3);
    const all = (await store.repository(authors).list({ limit: 10 })).items;
    assert.deepEqual(
      all.map((a) => a.email),
      ['retry3@conflict.io'],
    );
    assert.equal(all[0]?.id, author.id);
  });

  it('does not run the work again for any other error', async () => {
    await store.repository(authors).create({ email: 'taken@conflict.io' });
    let runs = 0;
    await assert.rejects(
      store.unitOfWork(async (uow) => {
        runs++;
        await uow.repository(authors).create({ email: 'taken@conflict.io' });
      }),
      UniqueViolationError,
    );
    assert.equal(runs, 1);
  });
});

// A real deadlock needs row locks held across statements by two connections: PostgreSQL and MySQL/MariaDB
// (SQLite has one writer at a time: its units of work queue behind BEGIN IMMEDIATE and cannot deadlock).
onEachDatabase(
  'unit of work in a real deadlock',
  (db) => {
    let store: DataStore;
    let close: () => Promise<void>;

    before(async () => {
      ({ store, close } = await openMigratedStore(db));
    });
    after(() => close());
    beforeEach(() => clear(store));

    it('two units of work locking two rows in opposite orders both commit: the one rolled back runs again', async () => {
      const repo = store.repository(authors);
      const first = await repo.create({ email: 'first@deadlock.io' });
      const second = await repo.create({ email: 'second@deadlock.io' });
      const bothLockedOne = barrier(2);
      const runs = { ab: 0, ba: 0 };
      const bump = async (uow: RepositoryProvider, lockFirst: string, thenLock: string, run: number) => {
        const r = uow.repository(authors);
        await r.update(lockFirst, { score: 1 });
        // Only on the first run: wait until the other side holds its row, so both then ask for the other's.
        if (run === 1) await bothLockedOne();
        await r.update(thenLock, { score: 1 });
      };
      await Promise.all([
        store.unitOfWork((uow) => bump(uow, first.id, second.id, ++runs.ab)),
        store.unitOfWork((uow) => bump(uow, second.id, first.id, ++runs.ba)),
      ]);
      // The database rolled exactly one of them back, and it ran once more.
      assert.equal(runs.ab + runs.ba, 3, `runs: ${JSON.stringify(runs)}`);
      assert.equal((await repo.get(first.id))?.score, 1);
      assert.equal((await repo.get(second.id))?.score, 1);
    });

    it('concurrent units of work that look for rows of their own new parent and then insert them never conflict', async () => {
      // The registration shape: create a parent, void its (not yet existing) children, insert one. At InnoDB's
      // REPEATABLE READ the empty UPDATE locks the index gap the child goes into, and two such transactions
      // deadlock; at READ COMMITTED (set on every connection) none takes such a lock.
      const parallel = 24;
      let runs = 0;
      await Promise.all(
        Array.from({ length: parallel }, (_, i) =>
          store.unitOfWork(async (uow) => {
            runs++;
            const author = await uow.repository(authors).create({ email: `parent${i}@gap.io` });
            await uow.repository(books).updateWhere({ author_id: author.id }, { title: 'void' });
            await uow.repository(books).create({ author_id: author.id, title: `book ${i}` });
          }),
        ),
      );
      assert.equal(runs, parallel, 'a unit of work had to run again: a conflict happened');
      assert.equal((await store.repository(books).list({ limit: 100 })).items.length, parallel);
    });
  },
  ['postgres', 'mariadb'],
);
