import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { type DataStore, ForeignKeyViolationError, UniqueViolationError } from '../src/index.js';
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
  // A deadlock between two units of work: test/transaction-conflicts.test.ts (the one rolled back runs again).
});
