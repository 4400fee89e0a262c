// Deep offset pages read from the list's far end: a page in the second half of a table of more than 20k rows is
// read backwards from the end, after a count of the same snapshot (SQLite: Dialect.fromTheEnd, in the statement
// itself; MariaDB: Dialect.fromTheEndInTwoSteps, a count and the page in one transaction). These tests hold such
// pages to the slice of the whole list, taken by a keyset walk that shares no code with offsets, for a key, a
// unique column, a nullable one with ties, in both directions, at the edges (the last rows, past the end), and
// check from the statements run (the page's keys walked in the reverse order) that the far end was really used,
// and only in the second half.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KyselyPlugin } from 'kysely';
import type { Database, OrderBy, Repository } from '../src/index.js';
import { CursorCodec } from '../src/pagination.js';
import { SqlRepository } from '../src/sql-repository.js';
import { onEachDatabase, type TestDatabase } from '../src/testing/test-databases.js';
import { type Author, authors } from './support/fixture-tables.js';
import { openWithoutAuthors } from './support/open-store.js';

type Authors = Repository<Author, 'id' | 'is_active' | 'score' | 'created_at' | 'updated_at'>;

const ROWS = 20_050;
const LIMIT = 20;

onEachDatabase('deep offset pages from the far end', fromEnd, ['sqlite', 'mariadb']);

function fromEnd(db: TestDatabase): void {
  let database: Database;
  let repo: Authors;
  const statements: string[] = [];

  before(async () => {
    database = await openWithoutAuthors(db, (e) => statements.push(e.sql));
    repo = database.repository(authors);
    // A third of the names null (sorted last both ways), the others tied in 7 values (broken by the key).
    const rows = Array.from({ length: ROWS }, (_, i) => ({
      email: `a${String(i).padStart(6, '0')}@x.io`,
      name: i % 3 === 0 ? null : `name ${i % 7}`,
      score: i % 4,
    }));
    for (let i = 0; i < rows.length; i += 2_000) await repo.createMany(rows.slice(i, i + 2_000));
  });
  after(() => database.close());

  /**
   * Whether the last page statement walked its keys in the reverse of `direction` (the far end): the deferred
   * join's inner query orders by the key last, forward in the asked direction, reversed from the end. Without a
   * page statement, whether the far end's count ran (it found nothing left to read).
   */
  function walkedBackwards(direction: 'asc' | 'desc'): boolean {
    const page = statements.findLast((s) => /\boffset\b/i.test(s));
    // Past the end, MariaDB's count alone says the page is empty: no page statement runs.
    if (!page) return statements.some((s) => s.includes('page_total'));
    const inner = /\(select .*? order by (.*?) limit\b/i.exec(page)?.[1] ?? '';
    const last = [...inner.matchAll(/["`]id["`] (asc|desc)/g)].at(-1)?.[1];
    assert.ok(last, page);
    return last !== direction;
  }

  /** The whole list in this order, by keyset pages of 1000. */
  async function whole(orderBy: OrderBy<Author>): Promise<string[]> {
    const ids: string[] = [];
    let page = await repo.list({ orderBy, limit: 1000 });
    ids.push(...page.items.map((a) => a.id));
    while (page.nextCursor) {
      page = await repo.list({ after: page.nextCursor, limit: 1000 });
      ids.push(...page.items.map((a) => a.id));
    }
    return ids;
  }

  for (const column of ['id', 'email', 'name'] as const) {
    for (const direction of ['asc', 'desc'] as const) {
      it(`ordered by ${column} ${direction}: deep pages equal the slice, and the second half is read from the end`, async () => {
        const orderBy = { column, direction };
        const ids = await whole(orderBy);
        assert.equal(ids.length, ROWS);
        const skips = [
          10_001,
          ROWS / 2 + 1,
          13_337,
          ROWS - LIMIT - 1,
          ROWS - LIMIT,
          ROWS - 7,
          ROWS - 1,
          ROWS,
          ROWS + 5,
        ];
        for (const skip of skips) {
          statements.length = 0;
          const page = await repo.list({ orderBy, skip, limit: LIMIT });
          assert.deepEqual(
            page.items.map((a) => a.id),
            ids.slice(skip, skip + LIMIT),
            `skip ${skip}`,
          );
          assert.equal(page.nextCursor !== null, skip + LIMIT < ROWS, `skip ${skip}: next cursor`);
          // Whole rows, as a lookup reads them.
          if (page.items[0]) assert.deepEqual(page.items[0], await repo.get(page.items[0].id));
          const farEnd = skip > ROWS / 2;
          assert.equal(
            walkedBackwards(direction),
            farEnd,
            `skip ${skip}: ${farEnd ? 'from the end' : 'from the start'}`,
          );
        }
      });
    }
  }

  it('filtered lists and cursors are read from the start', async () => {
    statements.length = 0;
    const filtered = await repo.list({ filters: { score: 1 }, skip: 15_000, limit: LIMIT });
    assert.equal(filtered.items.length, 0, 'a quarter of the rows have score 1: fewer than 15000');
    const active = await repo.list({ filters: { is_active: true }, skip: 19_000, limit: LIMIT });
    assert.equal(active.items.length, LIMIT);
    assert.ok(!statements.some((s) => s.includes('page_total')), 'no count for the page');
  });

  it("inside a unit of work, a far-end page sees the unit's own uncommitted rows, and nothing stays after a rollback", async () => {
    const orderBy = { column: 'email', direction: 'asc' } as const;
    const before = await whole(orderBy);
    const skip = ROWS - 50;
    const failure = new Error('roll back');
    await assert.rejects(
      database.unitOfWork(async (uow) => {
        const inside = uow.repository(authors);
        // Sorts first: every row after it moves one place on, in this unit of work only.
        const added = await inside.create({ email: '00@x.io', name: null, score: 0 });
        statements.length = 0;
        const page = await inside.list({ orderBy, skip, limit: LIMIT });
        assert.deepEqual(
          page.items.map((a) => a.id),
          [added.id, ...before].slice(skip, skip + LIMIT),
        );
        // SQLite counts in the page's own statement; MariaDB's unit of work is READ COMMITTED, where a count and a
        // page would be of two snapshots, so it reads forward in one statement.
        assert.equal(
          walkedBackwards('asc'),
          db.kind === 'sqlite',
          'from the end inside the unit of work on SQLite only',
        );
        throw failure;
      }),
      (e: unknown) => e === failure,
    );
    const afterwards = await repo.list({ orderBy, skip, limit: LIMIT });
    assert.deepEqual(
      afterwards.items.map((a) => a.id),
      before.slice(skip, skip + LIMIT),
    );
  });

  // Where the count is a statement of its own (MariaDB), rows another client commits between it and the page
  // must not move the page: the two are of one snapshot. A plugin on the repository's Kysely commits them, through
  // another connection, the moment the count's result arrives.
  if (db.kind !== 'sqlite') {
    it('rows committed between the count and the page do not move the page', async () => {
      const orderBy = { column: 'email', direction: 'asc' } as const;
      const skip = ROWS - 100;
      const expected = (await repo.list({ orderBy, skip, limit: LIMIT })).items.map((a) => a.id);
      let inject = 3;
      const added: string[] = [];
      const between: KyselyPlugin = {
        transformQuery: (args) => args.node,
        async transformResult(args) {
          const first = args.result.rows[0] as Record<string, unknown> | undefined;
          if (inject > 0 && first && 'page_total' in first) {
            // Sorting last: counted from the end, each would move the page one place back.
            for (; inject > 0; inject--) added.push((await repo.create({ email: `zz${inject}@x.io` })).id);
          }
          return args.result;
        },
      };
      const observed = new SqlRepository(
        database.kysely.withPlugin(between),
        database.dialect,
        authors,
        new CursorCodec('between-the-count-and-the-page!!'),
      );
      try {
        const page = await observed.list({ orderBy, skip, limit: LIMIT });
        assert.equal(added.length, 3, 'the rows were committed between the two statements');
        assert.deepEqual(
          page.items.map((a) => a.id),
          expected,
        );
      } finally {
        for (const id of added) await repo.delete(id);
      }
    });
  }

  describe('a row added or removed between two pages', () => {
    it('moves the next page by one row, as from the start', async () => {
      const orderBy = { column: 'email', direction: 'asc' } as const;
      const before = await whole(orderBy);
      const skip = ROWS - 100;
      const first = await repo.list({ orderBy, skip, limit: LIMIT });
      assert.deepEqual(
        first.items.map((a) => a.id),
        before.slice(skip, skip + LIMIT),
      );
      // A row that sorts first: every later row moves one place on.
      const added = await repo.create({ email: '0@x.io', name: 'first', score: 0 });
      const again = await repo.list({ orderBy, skip, limit: LIMIT });
      assert.deepEqual(
        again.items.map((a) => a.id),
        [added.id, ...before].slice(skip, skip + LIMIT),
      );
      await repo.delete(added.id);
      const back = await repo.list({ orderBy, skip, limit: LIMIT });
      assert.deepEqual(
        back.items.map((a) => a.id),
        before.slice(skip, skip + LIMIT),
      );
    });
  });
}
