// A filtered offset page on SQLite is one plain SELECT ... LIMIT ... OFFSET (Dialect.defersFilteredPages): as a
// deferred join, whose keys an index of (filter column, another column, key) covers, SQLite's planner took that
// index and sorted every matching key for `is_active = 1 order by id` (170 ms a page at 1M users). These tests
// ask SQLite for the plan of the statement the repository really ran, with its values, on a table whose
// statistics say the filter matches every row, and hold the pages to the slice of the whole list.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Database, Repository } from '../src/index.js';
import { onEachDatabase, type TestDatabase } from '../src/testing/test-databases.js';
import { type Author, authors } from './support/fixture-tables.js';
import { openWithoutAuthors } from './support/open-store.js';

type Authors = Repository<Author, 'id' | 'is_active' | 'score' | 'created_at' | 'updated_at'>;

const ROWS = 2_000;
const INACTIVE = 5;

onEachDatabase('filtered offset pages (SQLite plan)', filteredPagePlan, ['sqlite']);

function filteredPagePlan(db: TestDatabase): void {
  let database: Database;
  let repo: Authors;
  const statements: string[] = [];

  before(async () => {
    database = await openWithoutAuthors(db, (e) => statements.push(e.sql));
    repo = database.repository(authors);
    // The users table's shape of index: a flag, then the column lists sort by, then the key.
    await sql`create index if not exists ix_authors_active_created on authors (is_active, created_at, id)`.execute(
      database.kysely,
    );
    await repo.createMany(
      Array.from({ length: ROWS }, (_, i) => ({ email: `p${i}@x.io`, name: `n ${i}`, is_active: i >= INACTIVE })),
    );
    await database.analyze(['authors']);
  });
  after(async () => {
    await sql`drop index if exists ix_authors_active_created`.execute(database.kysely);
    await database.close();
  });

  /** SQLite's plan of the last page statement run, with the values it ran with. */
  async function planOfLastPage(values: unknown[]): Promise<string> {
    const statement = statements.findLast((s) => s.startsWith('select') && s.includes(' offset '));
    assert.ok(statement, statements.join('\n'));
    const { rows } = await database.kysely.executeQuery<{ detail: string }>({
      sql: `explain query plan ${statement}`,
      parameters: values,
      query: sql`select 1`.compile(database.kysely).query,
      queryId: { queryId: 'plan' },
    });
    return rows.map((r) => r.detail).join('\n');
  }

  for (const active of [true, false]) {
    describe(`is_active = ${active} (${active ? 'every row but 5' : '5 rows'})`, () => {
      it('pages in key order equal the slice of the whole list', async () => {
        const whole = (await repo.list({ filters: { is_active: active }, limit: ROWS })).items.map((a) => a.id);
        assert.equal(whole.length, active ? ROWS - INACTIVE : INACTIVE);
        for (const skip of [1, 3, 20, 777, whole.length - 1, whole.length + 2]) {
          const page = await repo.list({ filters: { is_active: active }, skip, limit: 20 });
          assert.deepEqual(
            page.items.map((a) => a.id),
            whole.slice(skip, skip + 20),
            `skip ${skip}`,
          );
        }
      });
    });
  }

  it('a common value walks the key’s index and stops: no sort of every matching key', async () => {
    statements.length = 0;
    await repo.list({ filters: { is_active: true }, skip: 20, limit: 20 });
    // The values as bound: the flag (1), the limit (one more than asked, to know whether more follow), the skip.
    const plan = await planOfLastPage([1, 21, 20]);
    assert.match(plan, /SCAN authors USING INDEX sqlite_autoindex_authors_1/, plan);
    assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
  });

  it('a rare value still takes the filter’s index', async () => {
    statements.length = 0;
    await repo.list({ filters: { is_active: false }, skip: 1, limit: 20 });
    const plan = await planOfLastPage([0, 21, 1]);
    assert.match(plan, /SEARCH authors USING INDEX ix_authors_active_created \(is_active=\?\)/, plan);
  });
}
