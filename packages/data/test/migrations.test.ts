import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import {
  type Database,
  loadMigrations,
  MigrationError,
  Migrator,
  openDatabase,
  scaffoldMigration,
} from '../src/index.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';
import { FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

const CREATE_AUTHORS = '20260101000000_create_authors';
const CREATE_BOOKS = '20260101000100_create_books';

const FAILING = `
export async function up({ db, types }) {
  await db.schema.createTable('half_done').addColumn('id', types.integer).execute();
  await db.schema.createTable('authors').addColumn('id', types.integer).execute();
}
export async function down() {}
`;

onEachDatabase('migrations', (tdb) => {
  let database: Database;
  let migrator: Migrator;
  const scratch = mkdtempSync(join(tmpdir(), 'us-mig-'));

  before(async () => {
    database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    migrator = await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS);
  });
  after(async () => {
    await database.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('reports base and everything pending on an empty database', async () => {
    assert.equal(await migrator.current(), null);
    assert.deepEqual(await migrator.pending(), [CREATE_AUTHORS, CREATE_BOOKS]);
    assert.deepEqual(
      (await migrator.history()).map((h) => [h.name, h.appliedAt]),
      [
        [CREATE_AUTHORS, null],
        [CREATE_BOOKS, null],
      ],
    );
  });

  it('applies one step with up +1, then the rest, and records history', async () => {
    assert.deepEqual(await migrator.up(1), [CREATE_AUTHORS]);
    assert.equal(await migrator.current(), CREATE_AUTHORS);
    assert.deepEqual(await migrator.up(), [CREATE_BOOKS]);
    assert.deepEqual(await migrator.up(), [], 'nothing left to apply');
    const history = await migrator.history();
    assert.ok(history.every((h) => h.appliedAt !== null));
    const check = await migrator.check();
    assert.deepEqual(check, { pending: [], drift: [] });
  });

  it('returns the same schema after down base then up', async () => {
    const before = await database.dialect.introspect(database.kysely);
    assert.deepEqual(Object.keys(before.tables).sort(), ['authors', 'books']);
    assert.ok(before.tables.authors?.indexes.uq_authors_email?.unique, 'unique index introspected');
    assert.deepEqual(await migrator.down('base'), [CREATE_BOOKS, CREATE_AUTHORS]);
    assert.equal(await migrator.current(), null);
    assert.deepEqual((await database.dialect.introspect(database.kysely)).tables, {});
    await migrator.up();
    assert.deepEqual(await database.dialect.introspect(database.kysely), before);
  });

  it('down reverts one step, and check then reports it pending', async () => {
    assert.deepEqual(await migrator.down(), [CREATE_BOOKS]);
    const check = await migrator.check();
    assert.deepEqual(check.pending, [CREATE_BOOKS]);
    assert.deepEqual(check.drift, []);
    await migrator.up();
  });

  it('check reports drift when the live schema differs from what the migrations produce', async () => {
    await sql`alter table authors add column extra integer`.execute(database.kysely);
    await sql`create index ix_books_title on books (title)`.execute(database.kysely);
    const check = await migrator.check();
    assert.deepEqual(check.pending, []);
    assert.ok(check.drift.includes('column authors.extra exists but no migration creates it'), check.drift.join('\n'));
    assert.ok(
      check.drift.includes('index ix_books_title on books exists but no migration creates it'),
      check.drift.join('\n'),
    );
    await sql`drop index ix_books_title${database.kind === 'mysql' ? sql` on books` : sql``}`.execute(database.kysely);
    await sql`alter table authors drop column extra`.execute(database.kysely);
    assert.deepEqual((await migrator.check()).drift, []);
  });

  it('lets two processes migrate at once: one applies, the other waits and finds nothing to do', async () => {
    await migrator.down('base');
    const other = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    try {
      const [a, b] = await Promise.all([migrator.up(), (await Migrator.fromDirectory(other, FIXTURE_MIGRATIONS)).up()]);
      assert.deepEqual([...a, ...b].sort(), [CREATE_AUTHORS, CREATE_BOOKS], 'each migration applied exactly once');
      assert.ok(a.length === 0 || b.length === 0, 'one process did all the work');
    } finally {
      await other.close();
    }
    assert.deepEqual(await migrator.pending(), []);
  });

  it('names the failing step, and leaves the schema as it was where DDL is transactional', async () => {
    const dir = join(scratch, 'failing');
    rmSync(dir, { recursive: true, force: true });
    await scaffoldMigration(dir, 'placeholder').then((p) => rmSync(p));
    for (const f of readdirSync(FIXTURE_MIGRATIONS)) copyFileSync(join(FIXTURE_MIGRATIONS, f), join(dir, f));
    writeFileSync(join(dir, '20260101000200_breaks.mjs'), FAILING);
    await migrator.down('base');
    const failing = await Migrator.fromDirectory(database, dir);
    const error = await failing.up().then(
      () => assert.fail('expected the migration to fail'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MigrationError, String(error));
    assert.equal(error.migration, '20260101000200_breaks');
    assert.match(error.message, /Migration 20260101000200_breaks failed \(up\)/);
    const tables = Object.keys((await database.dialect.introspect(database.kysely)).tables).sort();
    if (database.dialect.transactionalDdl) {
      assert.deepEqual(tables, [], 'the whole run was rolled back');
      assert.equal(await failing.current(), null);
      assert.match(error.message, /rolled back/);
    } else {
      assert.deepEqual(tables, ['authors', 'books', 'half_done']);
      assert.equal(await failing.current(), CREATE_BOOKS, 'steps before the failure are recorded');
      assert.match(error.message, /cannot roll back DDL/);
      await sql`drop table half_done`.execute(database.kysely);
    }
    await migrator.up();
  });

  it('refuses to run when the database has a migration this code does not know', async () => {
    await database.kysely
      .insertInto('schema_migrations')
      .values({ name: '29990101000000_future', applied_at: new Date().toISOString() })
      .execute();
    await assert.rejects(migrator.up(), (e: unknown) => e instanceof MigrationError && /newer version/.test(e.message));
    await database.kysely.deleteFrom('schema_migrations').where('name', '=', '29990101000000_future').execute();
  });
});

it('scaffolds a timestamped migration file that loads and runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-new-'));
  try {
    const path = await scaffoldMigration(dir, 'Add Widgets!', new Date('2026-11-22T10:20:30Z'));
    assert.equal(path, join(dir, '20261122102030_add_widgets.ts'));
    const [loaded] = await loadMigrations(dir);
    assert.equal(loaded?.name, '20261122102030_add_widgets');
    await assert.rejects(scaffoldMigration(dir, '!!!'), MigrationError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
