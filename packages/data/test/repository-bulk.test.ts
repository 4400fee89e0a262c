/**
 * The repository contract's bulk writes (updateWhere, deleteWhere, claim) and lookups by a secret column, on
 * every database and the in-memory store. A file of its own so it gets its own databases (see onEachDatabase).
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

    it('claim takes at most `limit` matching rows in order, patches them and returns them as updated', async () => {
      const created = await repo.createMany([
        { email: 'a@x.io', is_active: true },
        { email: 'b@x.io', is_active: false },
        { email: 'c@x.io', is_active: true },
        { email: 'd@x.io', is_active: true },
        { email: 'e@x.io', is_active: true },
      ]);
      await sleep(5);
      const claimed = await repo.claim({
        filters: { is_active: true },
        orderBy: { column: 'email', direction: 'desc' },
        limit: 3,
        patch: { is_active: false, name: 'claimed' },
      });
      assert.deepEqual(
        claimed.map((r) => r.email),
        ['e@x.io', 'd@x.io', 'c@x.io'],
        'in orderBy order, at most limit',
      );
      for (const row of claimed) {
        assert.equal(row.name, 'claimed', `${row.email}: the patch is returned`);
        assert.equal(row.is_active, false, `${row.email}: booleans converted per dialect`);
        assert.ok(row.updated_at > (created[0]?.updated_at ?? ''), `${row.email}: updated_at moves forward`);
        assert.deepEqual(await repo.get(row.id), row, `${row.email}: returned as stored`);
      }
      const rows = await byEmail();
      assert.deepEqual(
        Object.values(rows).map((r) => [r.email, r.name, r.is_active]),
        [
          ['a@x.io', null, true],
          ['b@x.io', null, false],
          ['c@x.io', 'claimed', false],
          ['d@x.io', 'claimed', false],
          ['e@x.io', 'claimed', false],
        ],
        'rows outside the claim are left alone',
      );
      // Without orderBy the order is the primary key's; more room than matches returns what there is.
      const rest = await repo.claim({ filters: { is_active: true }, limit: 10, patch: { is_active: false } });
      assert.deepEqual(
        rest.map((r) => r.email),
        ['a@x.io'],
      );
      assert.deepEqual(await repo.claim({ filters: { is_active: true }, limit: 10, patch: { is_active: false } }), []);
      const byId = await repo.createMany([{ email: 'p@x.io' }, { email: 'q@x.io' }, { email: 'r@x.io' }]);
      const ids = byId.map((r) => r.id).sort();
      const inPkOrder = await repo.claim({
        filters: { email: { in: ['p@x.io', 'q@x.io', 'r@x.io'] } },
        limit: 3,
        patch: { score: 1 },
      });
      assert.deepEqual(
        inPkOrder.map((r) => r.id),
        ids,
        'then by primary key',
      );
    });

    it('claim leases rows: a second claim with the same filters skips the rows already claimed', async () => {
      await repo.createMany(Array.from({ length: 6 }, (_, i) => ({ email: `lease${i}@x.io`, score: 0 })));
      // `score` plays a locked-until time: claimable when it is in the past, pushed into the future by a claim.
      const now = 100;
      const lease = () => repo.claim({ filters: { score: { lt: now } }, limit: 4, patch: { score: now + 60 } });
      const first = await lease();
      const second = await lease();
      assert.equal(first.length, 4);
      assert.equal(second.length, 2, 'only what is left');
      const ids = [...first, ...second].map((r) => r.id);
      assert.equal(new Set(ids).size, 6, 'no row claimed twice');
      assert.deepEqual(await lease(), []);
      // A lease that runs out makes its row claimable again.
      assert.equal(await repo.updateWhere({ email: 'lease0@x.io' }, { score: now - 1 }), 1);
      assert.deepEqual(
        (await lease()).map((r) => r.email),
        ['lease0@x.io'],
      );
    });

    it('claim inside a unit of work joins its transaction: a rollback releases the claim', async () => {
      await repo.createMany([{ email: 'a@x.io' }, { email: 'b@x.io' }]);
      await assert.rejects(
        store.unitOfWork(async (uow) => {
          const got = await uow.repository(authors).claim({ filters: { score: 0 }, limit: 5, patch: { score: 1 } });
          assert.equal(got.length, 2);
          throw new Error('send failed');
        }),
        /send failed/,
      );
      assert.equal(await repo.count({ score: 0 }), 2, 'rolled back with the unit of work');
      const committed = await store.unitOfWork((uow) =>
        uow.repository(authors).claim({ filters: { score: 0 }, limit: 5, patch: { score: 1 } }),
      );
      assert.equal(committed.length, 2);
      assert.equal(await repo.count({ score: 1 }), 2, 'committed with the unit of work');
    });

    it('claim refuses empty filters, an empty patch, a bad limit or order, and writes nothing', async () => {
      await repo.createMany([{ email: 'a@x.io' }, { email: 'b@x.io' }]);
      for (const filters of [{}, { id: undefined }, { $or: [{}] }]) {
        await assert.rejects(repo.claim({ filters, limit: 5, patch: { name: 'all' } }), InvalidQueryError);
      }
      const filters = { score: 0 };
      for (const patch of [{}, { name: undefined }]) {
        await assert.rejects(repo.claim({ filters, limit: 5, patch }), InvalidQueryError, JSON.stringify(patch));
      }
      for (const limit of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(repo.claim({ filters, limit, patch: { name: 'x' } }), InvalidQueryError, String(limit));
      }
      await assert.rejects(
        repo.claim({ filters, limit: 5, patch: { name: 'x' }, orderBy: { column: 'nope' as never } }),
        InvalidQueryError,
      );
      await assert.rejects(
        repo.claim({ filters: { nope: 1 } as never, limit: 5, patch: { name: 'x' } }),
        InvalidQueryError,
      );
      await assert.rejects(repo.claim({ filters, limit: 5, patch: { id: 'other' } }), InvalidQueryError);
      // Both rows would get the same email: the claim fails whole.
      await assert.rejects(repo.claim({ filters, limit: 5, patch: { email: 'same@x.io' } }), UniqueViolationError);
      assert.equal(await repo.count({ score: 0, name: null }), 2);
      assert.deepEqual(Object.keys(await byEmail()), ['a@x.io', 'b@x.io']);
    });

    it('claim never returns, filters or sorts by a secret column', async () => {
      const guarded = store.repository(defineTable<Author, AuthorOptional, 'email'>({ ...authors, secret: ['email'] }));
      await guarded.createMany([
        { email: 'hash-a', name: 'A' },
        { email: 'hash-b', name: 'B' },
      ]);
      const claimed = await guarded.claim({
        filters: { score: 0 },
        orderBy: { column: 'name' },
        limit: 5,
        patch: { score: 1 },
      });
      assert.deepEqual(
        claimed.map((r) => r.name),
        ['A', 'B'],
      );
      for (const row of claimed) {
        assert.ok(!('email' in row), 'the secret is left out');
        // @ts-expect-error the type has no secret column either
        void row.email;
      }
      await assert.rejects(
        // @ts-expect-error a secret column in claim filters
        guarded.claim({ filters: { email: 'hash-a' }, limit: 1, patch: { score: 2 } }),
        InvalidQueryError,
      );
      await assert.rejects(
        // @ts-expect-error a secret column as the claim order
        guarded.claim({ filters: { score: 1 }, orderBy: { column: 'email' }, limit: 1, patch: { score: 2 } }),
        InvalidQueryError,
      );
      assert.equal(await guarded.count({ score: 2 }), 0);
      // A secret column may still be written by the patch, as update writes it.
      const [rewritten] = await guarded.claim({ filters: { name: 'A' }, limit: 1, patch: { email: 'hash-new' } });
      assert.ok(rewritten && !('email' in rewritten));
      assert.equal((await guarded.get(rewritten.id, { secrets: ['email'] }))?.email, 'hash-new');
    });

    it('concurrent claims on the database never return a row twice', async () => {
      await repo.createMany(Array.from({ length: 40 }, (_, i) => ({ email: `c${String(i).padStart(2, '0')}@x.io` })));
      // Eight claims in flight at once, each in a transaction of its own (a pooled connection each on servers).
      const results = await Promise.all(
        Array.from({ length: 8 }, () => repo.claim({ filters: { score: 0 }, limit: 5, patch: { score: 1 } })),
      );
      const ids = results.flat().map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length, 'no row returned to two callers');
      assert.equal(ids.length, await repo.count({ score: 1 }), 'every claimed row was returned');
      assert.ok(ids.length > 0);
    });

    // Only on real databases: MemoryStore gives units of work no isolation from one another (each works on its own
    // copy of the tables), so there is nothing to test there; not registered rather than reported skipped.
    const onRealDatabase = (name: string, fn: () => Promise<void>) => {
      if (db.kind !== 'memory') it(name, fn);
    };
    onRealDatabase('concurrent claims in units of work held open after claiming split the rows', async () => {
      await repo.createMany(Array.from({ length: 40 }, (_, i) => ({ email: `u${String(i).padStart(2, '0')}@x.io` })));
      // Eight senders in parallel, each claiming 5 of the 40 rows and holding its transaction (and so its row
      // locks) open while it "sends". On PostgreSQL and MariaDB they overlap and must skip each other's locked
      // rows; on SQLite the one connection runs them one after another.
      const results = await Promise.all(
        Array.from({ length: 8 }, () =>
          store.unitOfWork(async (uow) => {
            const got = await uow
              .repository(authors)
              .claim({ filters: { score: { lt: 1 } }, limit: 5, patch: { score: 1 } });
            await sleep(20);
            return got;
          }),
        ),
      );
      const ids = results.flat().map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length, `no row returned to two callers: ${ids.length} returned`);
      assert.deepEqual(
        results.map((r) => r.length),
        [5, 5, 5, 5, 5, 5, 5, 5],
        'each caller gets a full batch: locked rows are skipped, not waited for or counted',
      );
      const all = (await repo.list({ limit: 1000 })).items;
      assert.deepEqual(new Set(ids), new Set(all.map((r) => r.id)), 'together they claim every row');
      assert.ok(all.every((r) => r.score === 1));
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
