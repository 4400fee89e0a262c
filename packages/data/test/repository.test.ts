import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import {
  ConstraintViolationError,
  type DataStore,
  defineTable,
  InvalidCursorError,
  InvalidQueryError,
  type Repository,
  UniqueViolationError,
} from '../src/index.js';
import { onEachDatabase } from '../src/testing/test-databases.js';
import { type Author, authors } from './support/fixture-tables.js';
import { openMigratedStore } from './support/open-store.js';

type Authors = Repository<Author, 'id' | 'is_active' | 'score' | 'created_at' | 'updated_at'>;

onEachDatabase(
  'repository contract',
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
      // Each test starts from an empty table.
      for (const a of (await repo.list({ limit: 1000 })).items) await repo.delete(a.id);
    });

    it('creates a row with generated id, defaults and timestamps, and reads it back with plain types', async () => {
      const created = await repo.create({ email: 'ada@example.com', name: 'Ada' });
      assert.match(created.id, /^[0-9a-f-]{36}$/);
      assert.equal(created.is_active, true);
      assert.equal(created.score, 0);
      assert.match(created.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const read = await repo.get(created.id);
      assert.deepEqual(read, created);
      assert.equal(typeof read?.is_active, 'boolean');
      assert.equal(typeof read?.score, 'number');
      assert.equal(await repo.exists(created.id), true);
      assert.equal(await repo.get('00000000-0000-0000-0000-000000000000'), undefined);
    });

    it('createMany inserts every row or none', async () => {
      const rows = await repo.createMany([{ email: 'a@x.io' }, { email: 'b@x.io', score: 5 }]);
      assert.equal(rows.length, 2);
      assert.equal(await repo.count(), 2);
      await assert.rejects(repo.createMany([{ email: 'c@x.io' }, { email: 'a@x.io' }]), UniqueViolationError);
      assert.equal(await repo.count(), 2, 'the valid row of a failed batch must not be left behind');
    });

    it('reports a unique violation with the same columns and constraint on every database', async () => {
      await repo.create({ email: 'dup@example.com' });
      const error = await repo.create({ email: 'dup@example.com' }).then(
        () => assert.fail('expected a unique violation'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof UniqueViolationError, `got ${String(error)}`);
      assert.deepEqual(error.columns, ['email']);
      assert.equal(error.constraint, 'uq_authors_email');
      const first = await repo.getBy({ email: 'dup@example.com' });
      assert.ok(first);
      await assert.rejects(repo.create({ id: first.id, email: 'other@example.com' }), (e: unknown) => {
        assert.ok(e instanceof UniqueViolationError);
        assert.deepEqual(e.columns, ['id']);
        return true;
      });
    });

    it('rejects a missing required column and an unknown column without writing', async () => {
      await assert.rejects(repo.create({ name: 'x' } as never), ConstraintViolationError);
      await assert.rejects(repo.create({ email: 'x@y.z', nope: 1 } as never), InvalidQueryError);
      await assert.rejects(repo.list({ filters: { nope: 1 } as never }), InvalidQueryError);
      assert.equal(await repo.count(), 0);
    });

    it('filters by equality, in, null checks and ranges', async () => {
      await repo.createMany([
        { email: 'a@x.io', name: null, score: 1, is_active: true },
        { email: 'b@x.io', name: 'Bea', score: 2, is_active: false },
        { email: 'c@x.io', name: 'Cy', score: 3, is_active: true },
      ]);
      const emails = async (filters: Parameters<Authors['count']>[0]) =>
        (await repo.list({ filters, orderBy: { column: 'email' } })).items.map((a) => a.email);
      assert.deepEqual(await emails({ is_active: false }), ['b@x.io']);
      assert.deepEqual(await emails({ is_active: true }), ['a@x.io', 'c@x.io']);
      assert.deepEqual(await emails({ email: { in: ['a@x.io', 'c@x.io', 'zz'] } }), ['a@x.io', 'c@x.io']);
      assert.deepEqual(await emails({ email: { in: [] } }), []);
      assert.deepEqual(await emails({ name: null }), ['a@x.io']);
      assert.deepEqual(await emails({ name: { isNull: false } }), ['b@x.io', 'c@x.io']);
      assert.deepEqual(await emails({ score: { gte: 2, lt: 3 } }), ['b@x.io']);
      assert.deepEqual(await emails({ score: { ne: 2 } }), ['a@x.io', 'c@x.io']);
      assert.deepEqual(await emails({ $or: [{ score: 1 }, { name: 'Cy' }] }), ['a@x.io', 'c@x.io']);
      assert.equal(await repo.count({ is_active: true }), 2);
      assert.equal(await repo.count({}, { atMost: 2 }), 2, 'counting stops at atMost');
      assert.equal(await repo.count({ is_active: true }, { atMost: 10 }), 2);
      const c = await repo.getBy({ email: 'c@x.io' });
      assert.ok(c);
      assert.equal(await repo.count({ created_at: { lte: c.created_at } }), 3);
      assert.equal(await repo.count({ created_at: { gt: c.created_at } }), 0);
    });

    it('matches "contains" without regard to case, and treats %, _ and \\ literally', async () => {
      await repo.createMany([
        { email: 'percent@x.io', name: '100% Ada' },
        { email: 'under@x.io', name: 'snake_case' },
        { email: 'slash@x.io', name: 'back\\slash' },
        { email: 'plain@x.io', name: 'Plain Person' },
      ]);
      const names = async (term: string) =>
        (await repo.list({ filters: { name: { contains: term } }, orderBy: { column: 'email' } })).items.map(
          (a) => a.name,
        );
      assert.deepEqual(await names('%'), ['100% Ada']);
      assert.deepEqual(await names('_'), ['snake_case']);
      assert.deepEqual(await names('\\'), ['back\\slash']);
      assert.deepEqual(await names('PERSON'), ['Plain Person']);
      assert.deepEqual(await names('0% a'), ['100% Ada']);
      assert.deepEqual(await names('!'), []);
    });

    it('orders and pages by offset, with nulls last in both directions', async () => {
      await repo.createMany([
        { email: 'a@x.io', name: 'b' },
        { email: 'b@x.io', name: null },
        { email: 'c@x.io', name: 'a' },
      ]);
      const asc = await repo.list({ orderBy: { column: 'name', direction: 'asc' } });
      assert.deepEqual(
        asc.items.map((a) => a.email),
        ['c@x.io', 'a@x.io', 'b@x.io'],
      );
      const desc = await repo.list({ orderBy: { column: 'name', direction: 'desc' } });
      assert.deepEqual(
        desc.items.map((a) => a.email),
        ['a@x.io', 'c@x.io', 'b@x.io'],
      );
      const page = await repo.list({ orderBy: { column: 'email' }, skip: 1, limit: 1 });
      assert.deepEqual(
        page.items.map((a) => a.email),
        ['b@x.io'],
      );
      assert.ok(page.nextCursor, 'a full page has a next cursor');
      const last = await repo.list({ orderBy: { column: 'email' }, skip: 2, limit: 5 });
      assert.equal(last.nextCursor, null);
    });

    it('pages by cursor without skipping or repeating rows when rows are inserted between pages', async () => {
      for (let i = 0; i < 10; i++) await repo.create({ email: `u${String(i).padStart(2, '0')}@x.io`, score: i % 3 });
      for (const orderBy of [
        { column: 'email', direction: 'asc' },
        { column: 'score', direction: 'desc' },
      ] as const) {
        const seen: string[] = [];
        let page = await repo.list({ orderBy, limit: 3 });
        seen.push(...page.items.map((a) => a.email));
        let inserted = 0;
        while (page.nextCursor) {
          // A row sorting before the current position and one after it: the first must not appear, the second must.
          await repo.create({ email: `a-before-${orderBy.column}-${inserted}@x.io`, score: 9 });
          await repo.create({ email: `z-after-${orderBy.column}-${inserted}@x.io`, score: -1 });
          inserted++;
          page = await repo.list({ after: page.nextCursor, limit: 3 });
          seen.push(...page.items.map((a) => a.email));
        }
        assert.equal(new Set(seen).size, seen.length, `no row repeated (${orderBy.column})`);
        for (let i = 0; i < 10; i++)
          assert.ok(seen.includes(`u${String(i).padStart(2, '0')}@x.io`), `u${i} not skipped`);
        assert.ok(!seen.some((e) => e.startsWith('a-before')), 'rows inserted behind the cursor do not appear');
        assert.ok(
          seen.some((e) => e.startsWith('z-after')),
          'rows inserted ahead of the cursor appear',
        );
        const all = await repo.list({ orderBy, limit: 1000 });
        const expected = all.items.map((a) => a.email).filter((e) => seen.includes(e));
        assert.deepEqual(seen, expected, 'cursor pages follow the same order as one big page');
        for (const a of (await repo.list({ limit: 1000 })).items) {
          if (!a.email.startsWith('u')) await repo.delete(a.id);
        }
      }
    });

    it('rejects a tampered cursor, and a cursor for another sort order, with a clear error', async () => {
      for (let i = 0; i < 3; i++) await repo.create({ email: `c${i}@x.io` });
      const { nextCursor } = await repo.list({ orderBy: { column: 'email' }, limit: 1 });
      assert.ok(nextCursor);
      const [body, sum] = nextCursor.split('.');
      const forged = `${Buffer.from(JSON.stringify(['email', 'asc', 'zzz', 'x'])).toString('base64url')}.${sum}`;
      // The old unkeyed checksum (sha256 of table + body): anyone could compute it.
      const { createHash } = await import('node:crypto');
      const unkeyed = `${body}.${createHash('sha256')
        .update('authors')
        .update('\0')
        .update(body ?? '')
        .digest('base64url')
        .slice(0, 12)}`;
      for (const bad of ['garbage', `${body}x.${sum}`, forged, unkeyed, `${body}.${sum}.x`, '']) {
        await assert.rejects(repo.list({ after: bad }), InvalidCursorError, `cursor ${bad}`);
      }
      await assert.rejects(repo.list({ after: nextCursor, orderBy: { column: 'created_at' } }), InvalidCursorError);
      await assert.rejects(repo.list({ after: nextCursor, skip: 1 }), InvalidQueryError);
      const next = await repo.list({ after: nextCursor, limit: 5 });
      assert.deepEqual(
        next.items.map((a) => a.email),
        ['c1@x.io', 'c2@x.io'],
      );
    });

    it('binds a cursor to its filters and to the sort whitelist', async () => {
      for (let i = 0; i < 4; i++) await repo.create({ email: `f${i}@x.io`, is_active: i % 2 === 0 });
      const filters = { is_active: true };
      const { nextCursor } = await repo.list({ filters, orderBy: { column: 'email' }, limit: 1 });
      assert.ok(nextCursor);
      // Replayed on another query (no filter, another filter value): refused.
      await assert.rejects(repo.list({ after: nextCursor, limit: 5 }), InvalidCursorError);
      await assert.rejects(repo.list({ after: nextCursor, filters: { is_active: false } }), InvalidCursorError);
      const next = await repo.list({ after: nextCursor, filters: { is_active: true }, limit: 5 });
      assert.deepEqual(
        next.items.map((a) => a.email),
        ['f2@x.io'],
      );
      // An endpoint's whitelist holds for orderBy and for the column inside a (genuine) cursor.
      await assert.rejects(repo.list({ orderBy: { column: 'name' }, sortable: ['email'] }), InvalidQueryError);
      await assert.rejects(repo.list({ after: nextCursor, filters, sortable: ['created_at'] }), InvalidCursorError);
    });

    it('never filters, sorts, pages or selects a secret column unless a read names it', async () => {
      // The same table, with `email` declared secret, as users declare hashed_password.
      const guarded = store.repository(
        defineTable<Author, 'id' | 'is_active' | 'score' | 'created_at' | 'updated_at', 'email'>({
          ...authors,
          secret: ['email'],
        }),
      );
      const a = await guarded.create({ email: 'secret-a@x.io', name: 'A' });
      await guarded.create({ email: 'secret-b@x.io', name: 'B' });
      // The types refuse a secret column in a filter or sort key, and the repository refuses it at run time.
      // @ts-expect-error secret column as sort key
      await assert.rejects(guarded.list({ orderBy: { column: 'email' } }), InvalidQueryError);
      // @ts-expect-error secret column in a filter
      await assert.rejects(guarded.list({ filters: { email: 'secret-a@x.io' } }), InvalidQueryError);
      // @ts-expect-error secret column in an $or branch
      await assert.rejects(guarded.list({ filters: { $or: [{ email: { gt: 'secret' } }] } }), InvalidQueryError);
      // @ts-expect-error secret column in a lookup
      await assert.rejects(guarded.getBy({ email: 'secret-a@x.io' }), InvalidQueryError);
      // @ts-expect-error secret column in a count
      await assert.rejects(guarded.count({ email: { contains: 'a' } }), InvalidQueryError);
      // A cursor naming the secret column, even one signed with the right key, is refused.
      const { nextCursor } = await repo.list({ orderBy: { column: 'email' }, limit: 1 });
      assert.ok(nextCursor);
      await assert.rejects(guarded.list({ after: nextCursor }), InvalidCursorError);

      // No read returns it unasked: not create, get, getBy (compiled lookup or not), list, update.
      assert.ok(!('email' in a), 'create');
      const reads = [
        await guarded.get(a.id),
        await guarded.getBy({ id: a.id }),
        await guarded.getBy({ name: { contains: 'a' } }),
        (await guarded.list({ filters: { id: a.id } })).items[0],
        await guarded.update(a.id, { score: 3 }),
        (await guarded.createMany([{ email: 'secret-c@x.io' }]))[0],
      ];
      for (const [i, row] of reads.entries()) {
        assert.ok(row, `read ${i}`);
        assert.ok(!('email' in row), `read ${i} leaves the secret out`);
        // @ts-expect-error the type has no secret column either
        void row.email;
      }
      assert.equal((await guarded.get(a.id))?.name, 'A');

      // A credentials read names it, and gets it whole; the same query without it (cached or not) still does not.
      const byId = await guarded.get(a.id, { secrets: ['email'] });
      assert.equal(byId?.email, 'secret-a@x.io', 'written and read back whole');
      assert.equal((await guarded.getBy({ id: a.id }, { secrets: ['email'] }))?.email, 'secret-a@x.io');
      assert.ok(!('email' in ((await guarded.getBy({ id: a.id })) ?? {})));
      const page = await guarded.list({ orderBy: { column: 'name' }, limit: 2 }, { secrets: ['email'] });
      assert.deepEqual(
        page.items.map((r) => r.email),
        ['secret-a@x.io', 'secret-b@x.io'],
      );
      // Naming a column that is not secret is refused, so a typo never quietly reads less than asked.
      // @ts-expect-error not a secret column
      await assert.rejects(guarded.get(a.id, { secrets: ['name'] }), InvalidQueryError);
      // A table without secrets returns every column, as before.
      assert.equal((await repo.get(a.id))?.email, 'secret-a@x.io');
    });

    it('updates a patch and the updated-at stamp, deletes, and reports missing rows', async () => {
      const a = await repo.create({ email: 'up@x.io', name: 'Old' });
      await new Promise((r) => setTimeout(r, 5));
      const updated = await repo.update(a.id, { name: 'New', is_active: false, score: 7 });
      assert.ok(updated);
      assert.equal(updated.name, 'New');
      assert.equal(updated.is_active, false);
      assert.equal(updated.score, 7);
      assert.equal(updated.created_at, a.created_at);
      assert.ok(updated.updated_at > a.updated_at, 'updated_at moves forward');
      assert.deepEqual(await repo.get(a.id), updated);
      await assert.rejects(repo.update(a.id, { id: 'other' }), InvalidQueryError);
      await assert.rejects(repo.update(a.id, { email: null as never }), ConstraintViolationError);
      const b = await repo.create({ email: 'taken@x.io' });
      await assert.rejects(repo.update(b.id, { email: 'up@x.io' }), UniqueViolationError);
      assert.equal((await repo.get(b.id))?.email, 'taken@x.io');
      assert.equal(await repo.update('00000000-0000-0000-0000-000000000000', { name: 'x' }), undefined);
      assert.equal(await repo.delete(a.id), true);
      assert.equal(await repo.delete(a.id), false);
      assert.equal(await repo.exists(a.id), false);
    });
  },
  ['memory', 'sqlite', 'postgres', 'mariadb'],
);
