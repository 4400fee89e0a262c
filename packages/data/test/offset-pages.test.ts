// Offset pages are read with a deferred join (sql-repository.ts list()): the skipped rows are walked as keys
// and only the page's rows are read whole. These tests hold every offset page to the same rows, in the same
// order, as the corresponding slice of the whole ordered list, for every kind of sort column.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataStore, Repository } from '../src/index.js';
import { onEachDatabase, type TestDatabase } from '../src/testing/test-databases.js';
import { type Author, authors } from './support/fixture-tables.js';
import { openMigratedStore } from './support/open-store.js';

type Authors = Repository<Author, 'id' | 'is_active' | 'score' | 'created_at' | 'updated_at'>;
type Column = 'id' | 'email' | 'name' | 'score' | 'created_at';

const ROWS = 40;
const ORDERINGS: { column: Column; direction: 'asc' | 'desc' }[] = (
  ['id', 'email', 'name', 'score', 'created_at'] as const
).flatMap((column) => (['asc', 'desc'] as const).map((direction) => ({ column, direction })));

// The in-memory store too: its keyset walk must order the nulls as the databases do.
onEachDatabase('offset pages (deferred join)', offsetPages, ['memory', 'sqlite', 'postgres', 'mariadb']);

function offsetPages(db: TestDatabase): void {
  let store: DataStore;
  let close: () => Promise<void>;
  let repo: Authors;

  before(async () => {
    ({ store, close } = await openMigratedStore(db));
    repo = store.repository(authors);
    for (const a of (await repo.list({ limit: 1000 })).items) await repo.delete(a.id);
    // Ties on score and name (broken by id), a third of the names null (sorted last both ways), and a mix of
    // active and inactive rows for the filtered lists.
    await repo.createMany(
      Array.from({ length: ROWS }, (_, i) => ({
        email: `a${String((i * 7) % ROWS).padStart(2, '0')}@x.io`,
        name: i % 3 === 0 ? null : `name ${i % 5}`,
        score: i % 4,
        is_active: i % 6 !== 0,
      })),
    );
  });
  after(() => close());

  for (const orderBy of ORDERINGS) {
    describe(`ordered by ${orderBy.column} ${orderBy.direction}`, () => {
      for (const filters of [{}, { is_active: true }]) {
        it(`every offset page equals the slice of the whole list${filters.is_active ? ' (filtered)' : ''}`, async () => {
          const whole = (await repo.list({ orderBy, filters, limit: 1000 })).items.map((a) => a.id);
          assert.equal(whole.length, filters.is_active ? ROWS - Math.ceil(ROWS / 6) : ROWS);
          for (const skip of [1, 2, 5, 13, whole.length - 7, whole.length - 1, whole.length, whole.length + 3]) {
            const page = await repo.list({ orderBy, filters, skip, limit: 7 });
            assert.deepEqual(
              page.items.map((a) => a.id),
              whole.slice(skip, skip + 7),
              `skip ${skip}`,
            );
            // Whole rows come back, not just the keys the join walked.
            for (const item of page.items) assert.deepEqual(item, await repo.get(item.id));
            // A cursor whenever rows follow, for a nullable sort column too (its nulls come last).
            assert.equal(page.nextCursor !== null, skip + 7 < whole.length, `skip ${skip}: next cursor`);
            if (page.nextCursor) {
              const next = await repo.list({ orderBy, filters, after: page.nextCursor, limit: 7 });
              assert.deepEqual(
                next.items.map((a) => a.id),
                whole.slice(skip + 7, skip + 14),
                `skip ${skip}: the page after`,
              );
            }
          }
        });

        it(`a cursor walk equals the whole list${filters.is_active ? ' (filtered)' : ''}`, async () => {
          const whole = (await repo.list({ orderBy, filters, limit: 1000 })).items.map((a) => a.id);
          // Pages of 4 end among the values, on the last value before the nulls and among the nulls.
          const seen: string[] = [];
          let page = await repo.list({ orderBy, filters, limit: 4 });
          seen.push(...page.items.map((a) => a.id));
          while (page.nextCursor) {
            page = await repo.list({ filters, after: page.nextCursor, limit: 4 });
            seen.push(...page.items.map((a) => a.id));
            assert.ok(seen.length <= whole.length, 'no page past the end');
          }
          assert.deepEqual(seen, whole);
        });
      }
    });
  }
}
