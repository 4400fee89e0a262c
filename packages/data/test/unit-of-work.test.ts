import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DatabaseUnavailableError,
  type DataStore,
  ForeignKeyViolationError,
  UniqueViolationError,
} from '../src/index.js';
import { onEachDatabase } from '../src/testing/test-databases.js';
import { authors, books } from './support/fixture-tables.js';
import { openMigratedStore } from './support/open-store.js';

onEachDatabase('unit of work', (db) => {
  let store: DataStore;
  let close: () => Promise<void>;

  before(async () => {
    ({ store, close } = await openMigratedStore(db));
  });
  after(() => close());
  beforeEach(async () => {
    const repo = store.repository(authors);
    for (const a of (await repo.list({ limit: 1000 })).items) await repo.delete(a.id);
  });

  it('commits several repositories together', async () => {
    const { author, book } = await store.unitOfWork(async (uow) => {
      const author = await uow.repository(authors).create({ email: 'uow@x.io' });
      const book = await uow.repository(books).create({ author_id: author.id, title: 'One' });
      return { author, book };
    });
    assert.deepEqual(await store.repository(authors).get(author.id), author);
    assert.deepEqual(await store.repository(books).get(book.id), book);
  });

  it('rolls back every write when the work throws, leaving no row behind', async () => {
    let authorId = '';
    await assert.rejects(
      store.unitOfWork(async (uow) => {
        const author = await uow.repository(authors).create({ email: 'rollback@x.io' });
        authorId = author.id;
        await uow.repository(books).create({ author_id: author.id, title: 'Half' });
        await uow.repository(authors).update(author.id, { name: 'changed' });
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.ok(authorId);
    assert.equal(await store.repository(authors).get(authorId), undefined);
    assert.equal(await store.repository(books).count({ author_id: authorId }), 0);
  });

  it('rolls back when a statement fails half-way, and reports the database error', async () => {
    await store.repository(authors).create({ email: 'taken@x.io' });
    await assert.rejects(
      store.unitOfWork(async (uow) => {
        await uow.repository(authors).create({ email: 'first@x.io' });
        await uow.repository(authors).create({ email: 'taken@x.io' });
      }),
      UniqueViolationError,
    );
    assert.equal(await store.repository(authors).getBy({ email: 'first@x.io' }), undefined);
    assert.equal(await store.repository(authors).count(), 1);
  });
});

onEachDatabase('foreign keys', (db) => {
  let store: DataStore;
  let close: () => Promise<void>;
  before(async () => {
    ({ store, close } = await openMigratedStore(db));
  });
  after(() => close());

  it('reports a missing parent as a ForeignKeyViolationError', async () => {
    await assert.rejects(
      store.repository(books).create({ author_id: '00000000-0000-0000-0000-000000000000', title: 'Orphan' }),
      ForeignKeyViolationError,
    );
    assert.equal(await store.repository(books).count(), 0);
  });

  it('deletes children with their parent (ON DELETE CASCADE)', async () => {
    const author = await store.repository(authors).create({ email: 'cascade@x.io' });
    await store.repository(books).createMany([
      { author_id: author.id, title: 'A' },
      { author_id: author.id, title: 'B' },
    ]);
    assert.equal(await store.repository(books).count({ author_id: author.id }), 2);
    assert.equal(await store.repository(authors).delete(author.id), true);
    assert.equal(await store.repository(books).count({ author_id: author.id }), 0);
  });
  it('a deadlock between two units of work ends one with DatabaseUnavailableError (retryable), never a raw driver error', async () => {
    const a = await store.repository(authors).create({ email: 'deadlock-a@x.io' });
    const b = await store.repository(authors).create({ email: 'deadlock-b@x.io' });
    let locked = 0;
    let bothLocked!: () => void;
    const both = new Promise<void>((resolve) => {
      bothLocked = resolve;
    });
    // Each locks one row, waits until the other holds its row too, then asks for the other's: a lock cycle on
    // PostgreSQL and MariaDB, which the server breaks by rolling one back. SQLite has one writer at a time (and
    // memory no locks): the second waits its turn and both commit.
    const lockThen = (first: string, second: string) =>
      store.unitOfWork(async (uow) => {
        await uow.repository(authors).update(first, { name: 'first' });
        if (++locked === 2) bothLocked();
        await Promise.race([both, sleep(500)]);
        await uow.repository(authors).update(second, { name: 'second' });
      });
    const results = await Promise.allSettled([lockThen(a.id, b.id), lockThen(b.id, a.id)]);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    for (const failure of failures) assert.ok(failure instanceof DatabaseUnavailableError, String(failure));
    assert.ok(
      results.some((r) => r.status === 'fulfilled'),
      'the other one commits',
    );
    if (db.kind === 'postgres' || db.kind === 'mariadb') assert.equal(failures.length, 1, 'a real deadlock happened');
  });
});
