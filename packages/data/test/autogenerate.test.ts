import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { autogenerateMigration, type Database, defineTable, Migrator, openDatabase, types } from '../src/index.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';

// The starting schema, written by hand as a project migration would be.
const BASE = `import type { MigrationContext } from '@user-service/data';

export async function up({ db, types, indexes }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('writers')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('email', types.string(320), (c) => c.notNull())
    .addColumn('bio', types.text)
    .addColumn('rank', types.integer, (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('uq_writers_email').on('writers').column('email').unique().execute();
  await indexes.createSubstringIndex('ix_writers_email_trgm', 'writers', 'email');
  await db.schema
    .createTable('essays')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('writer_id', types.uuid, (c) => c.notNull().references('writers.id').onDelete('cascade'))
    .addColumn('title', types.string(200), (c) => c.notNull())
    .addColumn('slug', types.key(100))
    .execute();
  await db.schema.createIndex('ix_essays_writer_id').on('essays').column('writer_id').execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('essays').execute();
  await db.schema.dropTable('writers').execute();
}
`;

interface Writer {
  id: string;
  email: string;
  bio: string | null;
  rank: number;
}
interface WriterV2 extends Writer {
  nickname: string | null;
}
interface Essay {
  id: string;
  writer_id: string;
  title: string;
  slug: string | null;
}

const writerColumns = { id: 'string', email: 'string', bio: 'string?', rank: 'integer' } as const;
const writerSchema = {
  columns: { id: types.uuid, email: types.string(320), bio: types.text, rank: { type: types.integer, default: 0 } },
  indexes: { ix_writers_email_trgm: { columns: ['email' as const], substring: true } },
};
const writers = defineTable<Writer>({
  name: 'writers',
  primaryKey: 'id',
  columns: writerColumns,
  unique: { uq_writers_email: ['email'] },
  schema: writerSchema,
});
// The change under test: one column and one index more.
const writersV2 = defineTable<WriterV2>({
  name: 'writers',
  primaryKey: 'id',
  columns: { ...writerColumns, nickname: 'string?' },
  unique: { uq_writers_email: ['email'] },
  schema: {
    columns: { ...writerSchema.columns, nickname: types.string(64) },
    indexes: { ...writerSchema.indexes, ix_writers_nickname: { columns: ['nickname', 'rank'] } },
  },
});
const essays = defineTable<Essay>({
  name: 'essays',
  primaryKey: 'id',
  columns: { id: 'string', writer_id: 'string', title: 'string', slug: 'string?' },
  schema: {
    columns: {
      id: types.uuid,
      writer_id: { type: types.uuid, references: { table: 'writers', column: 'id', onDelete: 'cascade' } },
      title: types.string(200),
      slug: types.key(100),
    },
    indexes: { ix_essays_writer_id: { columns: ['writer_id'] } },
  },
});

onEachDatabase('migrate new --autogenerate', (tdb) => {
  let database: Database;
  const dir = mkdtempSync(join(tmpdir(), 'us-autogen-'));
  const files = () => readdirSync(dir).sort();
  const migrator = () => Migrator.fromDirectory(database, dir);
  const introspect = () => database.dialect.introspect(database.kysely);

  before(async () => {
    database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    writeFileSync(join(dir, '20260101000000_base.ts'), BASE);
    await (await migrator()).up();
  });
  after(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds nothing to generate when the definitions match the database, and writes no file', async () => {
    const result = await autogenerateMigration(database, [writers, essays], dir, 'nothing');
    assert.equal(result.path, null);
    assert.deepEqual(result.diff.messages, []);
    assert.deepEqual(files(), ['20260101000000_base.ts']);
    assert.deepEqual((await (await migrator()).check({ declared: [writers, essays] })).drift, []);
  });

  it('reports a declared column and index as drift until a migration adds them', async () => {
    const { drift } = await (await migrator()).check({ declared: [writersV2, essays] });
    assert.deepEqual(drift, [
      'declared: column writers.nickname is declared but missing in the database',
      'declared: index ix_writers_nickname on writers is declared but missing in the database',
    ]);
  });

  it('generates a migration that adds them, applies, checks clean and reverts to the previous schema', async () => {
    const before = await introspect();
    const result = await autogenerateMigration(
      database,
      [writersV2, essays],
      dir,
      'add writer nickname',
      new Date('2026-02-01T00:00:00Z'),
    );
    const path = result.path ?? assert.fail('no file written');
    assert.ok(path.endsWith('20260201000000_add_writer_nickname.ts'), path);
    const source = readFileSync(path, 'utf8');
    assert.match(source, /\.addColumn\('nickname', types\.string\(64\)\)/);
    assert.match(source, /createIndex\('ix_writers_nickname'\)\.on\('writers'\)\.columns\(\['nickname', 'rank'\]\)/);
    assert.match(source, /indexes\.dropIndex\('ix_writers_nickname', 'writers'\)/);

    const m = await migrator();
    assert.deepEqual(await m.up(), ['20260201000000_add_writer_nickname']);
    const after = await introspect();
    assert.equal(after.tables.writers?.columns.nickname?.nullable, true);
    assert.deepEqual(after.tables.writers?.indexes.ix_writers_nickname, {
      columns: ['nickname', 'rank'],
      unique: false,
    });
    const check = await m.check({ declared: [writersV2, essays] });
    assert.deepEqual(check, { pending: [], drift: [] });
    const again = await autogenerateMigration(database, [writersV2, essays], dir, 'again');
    assert.equal(again.path, null, 'nothing left to generate');

    assert.deepEqual(await m.down(1), ['20260201000000_add_writer_nickname']);
    assert.deepEqual(await introspect(), before);
    assert.deepEqual((await m.check({ declared: [writers, essays] })).drift, []);
    rmSync(path);
  });

  it('generates drops of an undeclared table and column whose down restores them', async () => {
    const before = await introspect();
    const writersNoBio = defineTable<Omit<Writer, 'bio'>>({
      name: 'writers',
      primaryKey: 'id',
      columns: { id: 'string', email: 'string', rank: 'integer' },
      unique: { uq_writers_email: ['email'] },
      schema: {
        columns: { id: types.uuid, email: types.string(320), rank: { type: types.integer, default: 0 } },
        indexes: writerSchema.indexes,
      },
    });
    const result = await autogenerateMigration(database, [writersNoBio], dir, 'drop essays and bio');
    const path = result.path ?? assert.fail('no file written');
    assert.deepEqual(result.diff.messages, [
      'table essays exists in the database but is not declared',
      'column writers.bio exists in the database but is not declared',
    ]);
    const m = await migrator();
    await m.up();
    assert.deepEqual((await m.check({ declared: [writersNoBio] })).drift, []);
    await m.down(1);
    assert.deepEqual(await introspect(), before);
    assert.deepEqual((await m.check({ declared: [writers, essays] })).drift, []);
    rmSync(path);
  });
});
