/**
 * The repository contract's bulk writes (updateWhere, deleteWhere) and lookups by a secret column, on every
 * database and the in-memory store. A file of its own so it gets its own databases (see onEachDatabase).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import {
  ConstraintViolationError,
  type DataStore,
  defineTable,
  InvalidQueryError,
  type Repository,
  UniqueViolationError,
} from '../src/index.js';
import { onEachDatabase } from '../src/testing/test-databases.js';
import { type Author, authors } from './support/fixture-tables.js';
import { openMigratedStore } from './support/open-store.js';

type AuthorOptional = 'id' | 'is_active' | 'score' | 'created_at' | 'updated_at';
type Authors = Repository<Author, AuthorOptional>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

onEachDatabase(
  'repository bulk writes and secret lookups',
  (db) => {
    let store: DataStore;
    let close: () => Promise<void>;
    let repo: Authors;

    before(async () => {
      ({ store, close } = await openMigratedStore(db));
      repo = store.repository(authors);
    });
    after(() => close());
    beforeEach(async () => {
      // Each test starts from an empty table (not with deleteWhere: it is what is being tested).
      for (const a of (await repo.list({ limit: 1000 })).items) await repo.delete(a.id);
    });

    const byEmail = async () =>
      Object.fromEntries(
        (await repo.list({ orderBy: { column: 'email' }, limit: 1000 })).items.map((a) => [a.email, a]),
      );

    it('updateWhere patches every matching row as update does and returns how many matched', async () => {
      const [a, , c] = await repo.createMany([
        { email: 'a@x.io', name: 'A', score: 1, is_active: true },
        { email: 'b@x.io', name: 'B', score: 2, is_active: false },
        { email: 'c@x.io', name: 'C', score: 3, is_active: true },
      ]);
      assert.ok(a && c);
      await sleep(5);
      assert.equal(await repo.updateWhere({ is_active: true }, { score: 9, is_active: false, name: null }), 2);
      const rows = await byEmail();
      for (const email of ['a@x.io', 'c@x.io']) {
        const row = rows[email];
        assert.ok(row, email);
        assert.equal(row.score, 9, email);
        assert.equal(row.is_active, false, `${email}: booleans converted per dialect`);
        assert.equal(row.name, null, email);
        assert.ok(row.updated_at > a.updated_at, `${email}: updated_at moves forward`);
        assert.equal(row.created_at, a.created_at, `${email}: created_at untouched`);
      }
      assert.deepEqual(
        { score: rows['b@x.io']?.score, name: rows['b@x.io']?.name, updated_at: rows['b@x.io']?.updated_at },
        { score: 2, name: 'B', updated_at: a.updated_at },
        'a row outside the filters is left alone',
      );
      // Nothing is active any more.
      assert.equal(await repo.updateWhere({ is_active: true }, { score: 0 }), 0);
      // Timestamps in filters are converted as in reads; an $or counts each row once.
      assert.equal(await repo.updateWhere({ created_at: { lte: c.created_at }, score: { gte: 9 } }, { score: 10 }), 2);
      assert.equal(await repo.updateWhere({ $or: [{ score: 10 }, { email: 'a@x.io' }] }, { name: 'Z' }), 2);
      assert.equal(await repo.count({ name: 'Z' }), 2);
    });

    it('updateWhere counts rows matched, not only rows changed (MySQL/MariaDB included)', async () => {
      const a = await repo.create({ email: 'same@x.io', name: 'Same' });
      // Without an updated-at stamp, writing the value a row already has changes nothing: only the matched
      // count can still say 1 (MySQL reports changed rows unless the client sets CLIENT_FOUND_ROWS).
      const unstamped = store.repository(
        defineTable<Author, AuthorOptional>({ ...authors, timestamps: undefined as never }),
      );
      assert.equal(await unstamped.updateWhere({ id: a.id }, { name: 'Same' }), 1);
      assert.equal(await unstamped.updateWhere({ id: a.id }, {}), 1, 'an empty patch still reports the match');
      assert.equal(await unstamped.updateWhere({ id: a.id, name: 'Other' }, {}), 0);
      const row = await repo.get(a.id);
      assert.equal(row?.updated_at, a.updated_at, 'no stamp written by a table without timestamps');
      // The single-row update is unaffected: it still returns the row.
      assert.equal((await unstamped.update(a.id, { name: 'Same' }))?.name, 'Same');
      assert.equal((await repo.update(a.id, { name: 'Same' }))?.name, 'Same');
    });

    it('updateWhere checks the patch as update does and writes all matching rows or none', async () => {
      const [a, b] = await repo.createMany([{ email: 'a@x.io' }, { email: 'b@x.io' }]);
      assert.ok(a && b);
      const both = { email: { in: ['a@x.io', 'b@x.io'] } };
      await assert.rejects(repo.updateWhere(both, { id: 'other' }), InvalidQueryError);
      await assert.rejects(repo.updateWhere(both, { email: null as never }), ConstraintViolationError);
      await assert.rejects(repo.updateWhere(both, { nope: 1 } as never), InvalidQueryError);
      await assert.rejects(repo.updateWhere({ nope: 1 } as never, { name: 'x' }), InvalidQueryError);
      // Both rows would get the same email: the statement fails whole.
      await assert.rejects(repo.updateWhere(both, { email: 'same@x.io', name: 'changed' }), UniqueViolationError);
      assert.deepEqual(
        Object.values(await byEmail()).map((r) => [r.email, r.name]),
        [
          ['a@x.io', null],
          ['b@x.io', null],
        ],
      );
    });

    it('updateWhere and deleteWhere refuse filters that match every row', async () => {
      await repo.createMany([{ email: 'a@x.io' }, { email: 'b@x.io' }]);
      for (const filters of [{}, { id: undefined }, { $or: [{}] }, { $or: [{ name: 'x' }, { score: undefined }] }]) {
        await assert.rejects(repo.updateWhere(filters, { name: 'all' }), InvalidQueryError, JSON.stringify(filters));
        await assert.rejects(repo.deleteWhere(filters), InvalidQueryError, JSON.stringify(filters));
      }
      assert.equal(await repo.count(), 2);
      assert.equal(await repo.count({ name: 'all' }), 0);
      // An empty $or matches no row, which is harmless.
      assert.equal(await repo.updateWhere({ $or: [] }, { name: 'none' }), 0);
      assert.equal(await repo.deleteWhere({ $or: [] }), 0);
      assert.equal(await repo.count(), 2);
    });

    it('updateWhere is a compare-and-set: of ten concurrent callers exactly one wins', async () => {
      for (let round = 0; round < 5; round++) {
        const row = await repo.create({ email: `cas${round}@x.io`, name: null });
        // Ten calls in flight at once; on PostgreSQL and MariaDB each holds its own pooled connection.
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => repo.updateWhere({ id: row.id, name: null }, { name: `winner-${i}` })),
        );
        assert.deepEqual(
          [...results].sort(),
          [0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
          `round ${round}: ${JSON.stringify(results)}`,
        );
        assert.equal((await repo.get(row.id))?.name, `winner-${results.indexOf(1)}`, 'the winner wrote the row');
        assert.equal(await repo.updateWhere({ id: row.id, name: null }, { name: 'late' }), 0);
      }
    });

    it('deleteWhere deletes the matching rows and returns how many', async () => {
      await repo.createMany([
        { email: 'a@x.io', score: 1 },
        { email: 'b@x.io', score: 2 },
        { email: 'c@x.io', score: 3 },
        { email: 'd@x.io', score: 4, name: 'keep' },
      ]);
      assert.equal(await repo.deleteWhere({ score: { lte: 2 } }), 2);
      assert.deepEqual(Object.keys(await byEmail()), ['c@x.io', 'd@x.io']);
      assert.equal(await repo.deleteWhere({ score: { lte: 2 } }), 0);
      assert.equal(await repo.deleteWhere({ $or: [{ email: 'c@x.io' }, { name: 'nobody' }] }), 1);
      assert.deepEqual(Object.keys(await byEmail()), ['d@x.io']);
      await assert.rejects(repo.deleteWhere({ nope: 1 } as never), InvalidQueryError);
      assert.equal(await repo.count(), 1);
    });

    it('getBy matches a secret column by equality only when the read names it', async () => {
      // The same table with `email` declared secret, as a refresh-token table declares token_hash.
      const guarded = store.repository(defineTable<Author, AuthorOptional, 'email'>({ ...authors, secret: ['email'] }));
      const a = await guarded.create({ email: 'hash-a', name: 'A' });
      const b = await guarded.create({ email: 'hash-b', name: 'B' });
      const secrets = { secrets: ['email'] as const };

      // Named: found by the exact value, twice (the second time through the compiled lookup), with others.
      for (const [hash, row] of [
        ['hash-a', a],
        ['hash-b', b],
        ['hash-a', a],
      ] as const) {
        const found = await guarded.getBy({ email: hash }, secrets);
        assert.equal(found?.id, row.id, hash);
        assert.equal(found?.email, hash, 'the named secret is returned');
      }
      assert.equal((await guarded.getBy({ email: 'hash-b', name: 'B' }, secrets))?.id, b.id);
      assert.equal((await guarded.getBy({ email: 'hash-b', name: { contains: 'b' } }, secrets))?.id, b.id);
      assert.equal(await guarded.getBy({ email: 'hash-b', name: 'A' }, secrets), undefined);
      assert.equal(await guarded.getBy({ email: 'hash-c' }, secrets), undefined);
      // Equality, not a prefix match. (Case and trailing spaces follow the column's collation, as for any
      // equality filter: a hash column is declared with types.key, binary on MySQL/MariaDB; this fixture's
      // email column is not, so case is not asserted here.)
      assert.equal(await guarded.getBy({ email: 'hash' }, secrets), undefined, 'equality only');

      // Not named: refused, by the types and at run time.
      // @ts-expect-error a secret column the read does not name
      await assert.rejects(guarded.getBy({ email: 'hash-a' }), InvalidQueryError);
      // @ts-expect-error a secret column the read does not name
      await assert.rejects(guarded.getBy({ email: 'hash-a' }, { secrets: [] }), InvalidQueryError);
      // Named, but not compared by equality with a value: refused.
      // @ts-expect-error an operator on a secret column
      await assert.rejects(guarded.getBy({ email: { gt: 'hash' } }, secrets), InvalidQueryError);
      // @ts-expect-error an operator on a secret column
      await assert.rejects(guarded.getBy({ email: { contains: 'hash' } }, secrets), InvalidQueryError);
      // @ts-expect-error an operator on a secret column
      await assert.rejects(guarded.getBy({ email: { in: ['hash-a', 'hash-b'] } }, secrets), InvalidQueryError);
      // @ts-expect-error an operator on a secret column
      await assert.rejects(guarded.getBy({ email: { eq: 'hash-a' } }, secrets), InvalidQueryError);
      // @ts-expect-error null on a secret column
      await assert.rejects(guarded.getBy({ email: null }, secrets), InvalidQueryError);
      // An undefined value would be skipped, and the lookup match any row: refused instead.
      await assert.rejects(guarded.getBy({ email: undefined }, secrets), InvalidQueryError);
      await assert.rejects(
        // @ts-expect-error a secret column inside $or
        guarded.getBy({ $or: [{ email: 'hash-a' }, { email: 'hash-b' }] }, secrets),
        InvalidQueryError,
      );

      // Other reads and the bulk writes keep refusing it, named or not.
      // @ts-expect-error list filters never take a secret column
      await assert.rejects(guarded.list({ filters: { email: 'hash-a' } }, secrets), InvalidQueryError);
      // @ts-expect-error count filters never take a secret column
      await assert.rejects(guarded.count({ email: 'hash-a' }), InvalidQueryError);
      // @ts-expect-error updateWhere filters never take a secret column
      await assert.rejects(guarded.updateWhere({ email: 'hash-a' }, { name: 'x' }), InvalidQueryError);
      // @ts-expect-error deleteWhere filters never take a secret column
      await assert.rejects(guarded.deleteWhere({ email: 'hash-a' }), InvalidQueryError);
      assert.equal(await guarded.count({ name: 'x' }), 0);
      assert.equal(await guarded.count(), 2);
    });
  },
  ['memory', 'sqlite', 'postgres', 'mariadb'],
);
