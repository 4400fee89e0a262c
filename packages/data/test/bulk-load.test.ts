/**
 * Database.bulkLoad (issue 13: seeding 1M users took minutes on PostgreSQL, the trigram indexes maintained row by
 * row): the rows read back are the rows loaded, awkward values included (COPY's text format escapes); the table's
 * indexes are the same after the load as before it (dropped and built again when the table was empty); a
 * duplicate fails loudly and leaves no row of the load; the planner's statistics are fresh afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { inspect } from 'node:util';
import { sql } from 'kysely';
import {
  type Database,
  defineTable,
  Migrator,
  openDatabase,
  type SchemaSnapshot,
  UniqueViolationError,
} from '../src/index.js';
import { plannerRowCount } from '../src/testing/planner-stats.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';
import { type Author, authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

const ROWS = 2_345;

/** Values every escaping layer has to get right: COPY's text format, SQL literals, the drivers. */
const AWKWARD = [
  'tab\there',
  'new\nline',
  'carriage\rreturn\r\n',
  'back\\slash\\',
  '\\N',
  '\\.',
  '\\t not a tab',
  `quotes ' " \` ''`,
  'comma, and "csv" style',
  'unicode: Ünïcödé 日本語 Ελληνικά עברית 🙂👩‍💻',
  '',
  ' leading and trailing spaces ',
  'x'.repeat(255),
  null,
];

function author(i: number): Author {
  const at = new Date(Date.UTC(2024, 0, 1) + i * 1_000 + (i % 1000)).toISOString();
  return {
    id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    email: `bulk-${i}@example.com`,
    name: i < AWKWARD.length ? (AWKWARD[i] as string | null) : `Author ${i}`,
    is_active: i % 3 !== 0,
    score: i % 2 === 0 ? i : -i,
    created_at: at,
    updated_at: at,
  };
}

async function allAuthors(database: Database): Promise<Author[]> {
  const rows: Author[] = [];
  let cursor: string | undefined;
  do {
    const page = await database.repository(authors).list({ limit: 500, ...(cursor ? { after: cursor } : {}) });
    rows.push(...(page.items as Author[]));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return rows.sort((a, b) => a.id.localeCompare(b.id));
}

const indexesOf = (snapshot: SchemaSnapshot) => snapshot.tables.authors?.indexes;

onEachDatabase('Database.bulkLoad', (tdb) => {
  let database: Database;
  let indexesBefore: SchemaSnapshot['tables'][string]['indexes'] | undefined;

  before(async () => {
    database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
    // A substring index too (a trigram GIN index on PostgreSQL): it is dropped and built again through the
    // dialect's own create/drop.
    await database.withMigrationLock((db) =>
      database.dialect.createSubstringIndex(db, 'ix_authors_name_trgm', 'authors', 'name'),
    );
    indexesBefore = indexesOf(await database.introspect());
  });
  after(() => database?.close());

  it('fails loudly on a duplicate in the load and leaves the table as it was', async () => {
    const rows = [author(0), author(1), { ...author(2), email: author(0).email }, author(3)];
    await assert.rejects(database.bulkLoad(authors, rows), (error: unknown) => {
      assert.ok(error instanceof UniqueViolationError, String(error));
      assert.deepEqual(error.columns, ['email']);
      return true;
    });
    assert.equal(await database.repository(authors).count(), 0);
    assert.deepEqual(indexesOf(await database.introspect()), indexesBefore);
  });

  it('fails on a row the table refuses midway (no email), leaving nothing and the connection usable', async () => {
    const rows = Array.from({ length: 1_500 }, (_, i) => author(i));
    // After a thousand rows have gone (PostgreSQL: in COPY chunks of 100), the source gives a row without email.
    (rows[1_200] as Partial<Author>).email = undefined;
    await assert.rejects(database.bulkLoad(authors, rows, { rowsPerStatement: 100 }), /email/);
    assert.equal(await database.repository(authors).count(), 0);
    assert.deepEqual(indexesOf(await database.introspect()), indexesBefore);
  });

  it('loads every row as it was given, awkward values included, and keeps the indexes', async () => {
    const rows = Array.from({ length: ROWS }, (_, i) => author(i));
    const progress: number[] = [];
    async function* source() {
      yield* rows;
    }
    const loaded = await database.bulkLoad(authors, source(), {
      rowsPerStatement: 100,
      onProgress: (n) => progress.push(n),
    });
    assert.equal(loaded, ROWS);
    assert.equal(progress.at(-1), ROWS);
    assert.deepEqual(await allAuthors(database), rows);
    for (const [i, name] of AWKWARD.entries()) {
      assert.deepEqual((await database.repository(authors).get(author(i).id))?.name, name, `value #${i}`);
    }
    assert.deepEqual(indexesOf(await database.introspect()), indexesBefore);
  });

  it('leaves the substring index finding every loaded row (built again after the load)', {
    skip: tdb.kind !== 'sqlite' && tdb.kind !== 'postgres' && 'MySQL/MariaDB have no substring index (contains scans)',
  }, async () => {
    // The rows a LIKE scan matches, against the rows the index gives as candidates. On SQLite the FTS5 table is
    // filled after the load by rebuildSqliteSubstringIndex, not by its triggers.
    const terms = ['author 1', 'uthor 234', 'nïcödé', 'slash', 'x'.repeat(40)];
    for (const term of terms) {
      const { rows: scanned } = await sql<{ n: number }>`select count(*) as n from authors
          where lower(name) like ${`%${term}%`}`.execute(database.kysely);
      const expected = Number(scanned[0]?.n);
      assert.ok(expected > 0, term);
      const indexed =
        tdb.kind === 'sqlite'
          ? await sql<{ n: number }>`select count(*) as n from ix_authors_name_trgm
                where ix_authors_name_trgm match ${`"${term}"`}`.execute(database.kysely)
          : await database.kysely.transaction().execute(async (trx) => {
              await sql`set local enable_seqscan = off`.execute(trx);
              const query = sql<{ n: number }>`select count(*) as n from authors where lower(name) like ${`%${term}%`}`;
              const plan = await sql<{ 'QUERY PLAN': string }>`explain ${query}`.execute(trx);
              assert.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /ix_authors_name_trgm/);
              return query.execute(trx);
            });
      assert.equal(Number(indexed.rows[0]?.n), expected, term);
    }
  });

  it('leaves the substring index in step with the rows changed and deleted after the load', {
    skip:
      tdb.kind !== 'sqlite' && 'only SQLite keeps a substring index by triggers (PostgreSQL: an index, MySQL: none)',
  }, async () => {
    // The FTS5 table was built again by the load (its options, its 'automerge' during the build): the triggers
    // must still tell it of each change, or a search would miss the new value or offer a deleted row.
    const repo = database.repository(authors);
    await repo.update(author(1_500).id, { name: 'Zyxwvut Renamed' });
    await repo.delete(author(1_501).id);
    const matches = async (term: string) =>
      Number(
        (
          await sql<{ n: number }>`select count(*) as n from ix_authors_name_trgm
            where ix_authors_name_trgm match ${`"${term}"`}`.execute(database.kysely)
        ).rows[0]?.n,
      );
    assert.equal(await matches('zyxwvut'), 1);
    assert.equal(await matches('author 1500'), 0);
    assert.equal(await matches('author 1501'), 0);
    assert.equal(await matches('author 1502'), 1);
    const { rows } = await sql<{ v: number }>`select v from ix_authors_name_trgm_config where k = 'automerge'`.execute(
      database.kysely,
    );
    assert.equal(Number(rows[0]?.v), 4, "the build's automerge is not left behind");
    // Put the rows back as the load made them, for the tests after this one.
    await repo.update(author(1_500).id, { name: author(1_500).name });
    await repo.create(author(1_501));
  });

  it('leaves the planner’s statistics up to date', async () => {
    assert.equal(await plannerRowCount(database, 'authors'), ROWS);
    if (tdb.kind === 'postgres') {
      // CREATE INDEX alone also sets reltuples; VACUUM is what fills the visibility map (index-only scans).
      const { rows } = await sql<{ pages: number; visible: number }>`
        select relpages as pages, relallvisible as visible from pg_class where oid = 'authors'::regclass`.execute(
        database.kysely,
      );
      assert.ok(Number(rows[0]?.pages) > 0);
      assert.equal(Number(rows[0]?.visible), Number(rows[0]?.pages));
    }
  });

  it('completes rows as a create does (defaults, id, timestamps)', async () => {
    const loaded = await database.bulkLoad(authors, [{ email: 'defaults@example.com', name: null }]);
    assert.equal(loaded, 1);
    const [row] = (await database.repository(authors).list({ filters: { email: 'defaults@example.com' } })).items;
    assert.ok(row);
    assert.equal(row.is_active, true);
    assert.equal(row.score, 0);
    assert.match(row.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(row.created_at)));
  });

  it('into a table that has rows, refuses a duplicate of one of them and adds none of the load', async () => {
    const count = await database.repository(authors).count();
    const rows = [author(ROWS + 1), { ...author(ROWS + 2), email: author(5).email }];
    await assert.rejects(database.bulkLoad(authors, rows), UniqueViolationError);
    assert.equal(await database.repository(authors).count(), count);
    assert.equal(await database.repository(authors).get(author(ROWS + 1).id), undefined);
    assert.deepEqual(indexesOf(await database.introspect()), indexesBefore);
  });

  it('into a table that has rows, with its indexes built again, refuses a duplicate of one of them', async () => {
    // The unique index (CREATE UNIQUE INDEX uq_authors_email) comes down for the load and is built again inside
    // its transaction: that build is what finds the duplicate.
    const count = await database.repository(authors).count();
    const rows = [author(ROWS + 3), { ...author(ROWS + 4), email: author(6).email }];
    await assert.rejects(database.bulkLoad(authors, rows, { rebuildIndexes: true }), (error: unknown) => {
      assert.ok(error instanceof UniqueViolationError, String(error));
      assert.deepEqual(error.columns, ['email']);
      return true;
    });
    assert.equal(await database.repository(authors).count(), count);
    assert.equal(await database.repository(authors).get(author(ROWS + 3).id), undefined);
    assert.deepEqual(indexesOf(await database.introspect()), indexesBefore);
  });

  it('loads into an empty table whose uniqueness is a UNIQUE constraint, which no load may drop as an index', async () => {
    // The review of issue 13: PostgreSQL ("cannot drop index ... because constraint ... requires it") and SQLite
    // ("index associated with UNIQUE or PRIMARY KEY constraint cannot be dropped") refused the load.
    const tags = defineTable<{ id: string; label: string }, never>({
      name: 'bulk_tags',
      primaryKey: 'id',
      columns: { id: 'string', label: 'string' },
      unique: { bulk_tags_label_key: ['label'] },
    });
    await database.withMigrationLock(async (db) => {
      await db.schema.dropTable('bulk_tags').ifExists().execute();
      await db.schema
        .createTable('bulk_tags')
        .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
        .addColumn('label', 'varchar(40)', (c) => c.notNull())
        .addUniqueConstraint('bulk_tags_label_key', ['label'])
        .execute();
    });
    try {
      const rows = Array.from({ length: 50 }, (_, i) => ({ id: `t${i}`, label: `label ${i}` }));
      assert.equal(await database.bulkLoad(tags, rows), 50);
      assert.equal(await database.repository(tags).count(), 50);
      await assert.rejects(database.bulkLoad(tags, [{ id: 'dup', label: 'label 7' }]), UniqueViolationError);
      assert.equal(await database.repository(tags).count(), 50);
    } finally {
      await database.withMigrationLock((db) => db.schema.dropTable('bulk_tags').ifExists().execute());
    }
  });

  it("puts none of the load's values in its error (a row may hold a password hash)", async () => {
    const secret = 'SECRET-$argon2id$v=19$not-to-be-seen';
    // A duplicate email in a row whose other column holds the secret: mysql2 puts the whole INSERT in the error's
    // `sql`, PostgreSQL the row in `detail`/`where` for some violations.
    const first = author(ROWS + 10);
    const rows = [first, { ...author(ROWS + 11), name: secret, email: first.email }];
    const error = await database.bulkLoad(authors, rows).then(
      () => assert.fail('expected the load to fail'),
      (e: unknown) => e,
    );
    // Every property of the error and its causes, as a logger serialising it whole would see them.
    const seen = inspect(error, { depth: 10, showHidden: true });
    assert.match(seen, /email/, 'the error should still say which column');
    assert.match(seen, /UniqueViolationError/);
    assert.doesNotMatch(seen, /SECRET/);
  });

  it('refuses a table that does not exist', async () => {
    await assert.rejects(database.bulkLoad({ ...authors, name: 'no_such_table' }, [author(0)]), /no_such_table/);
  });
});
