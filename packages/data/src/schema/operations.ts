import type { MigrationContext } from '../migrations/migration.js';
import {
  type ColumnShape,
  type DefaultValue,
  type IndexShape,
  renderType,
  resolveType,
  type TableShape,
} from './declare.js';

/** One schema change as autogenerate writes it; each has an inverse, so `down` is `up` inverted and reversed. */
export type Operation =
  | { op: 'createTable'; table: TableShape }
  | { op: 'dropTable'; table: TableShape }
  | { op: 'addColumn'; table: string; column: ColumnShape }
  | { op: 'dropColumn'; table: string; column: ColumnShape }
  | { op: 'alterColumn'; table: string; from: ColumnShape; to: ColumnShape }
  | { op: 'createIndex'; table: string; index: IndexShape }
  | { op: 'dropIndex'; table: string; index: IndexShape };

export function inverse(o: Operation): Operation {
  switch (o.op) {
    case 'createTable':
      return { op: 'dropTable', table: o.table };
    case 'dropTable':
      return { op: 'createTable', table: o.table };
    case 'addColumn':
      return { op: 'dropColumn', table: o.table, column: o.column };
    case 'dropColumn':
      return { op: 'addColumn', table: o.table, column: o.column };
    case 'alterColumn':
      return { op: 'alterColumn', table: o.table, from: o.to, to: o.from };
    case 'createIndex':
      return { op: 'dropIndex', table: o.table, index: o.index };
    case 'dropIndex':
      return { op: 'createIndex', table: o.table, index: o.index };
  }
}

// --- running an operation (autogenerate builds the declared schema this way, in a scratch schema) ----------

type Builder = {
  primaryKey(): Builder;
  notNull(): Builder;
  defaultTo(v: DefaultValue): Builder;
  references(r: string): Builder;
  onDelete(a: string): Builder;
};

function buildColumn(c: ColumnShape, primaryKey: boolean): (b: Builder) => Builder {
  return (b) => {
    // The existing migrations spell a key column `c.primaryKey()` alone; NOT NULL is then the database's call.
    if (primaryKey) b = b.primaryKey();
    else if (!c.nullable) b = b.notNull();
    if (c.default !== undefined) b = b.defaultTo(c.default);
    if (c.references) {
      b = b.references(`${c.references.table}.${c.references.column}`);
      if (c.references.onDelete) b = b.onDelete(c.references.onDelete);
    }
    return b;
  };
}

function singleKey(table: TableShape, column: string): boolean {
  return table.primaryKey.length === 1 && table.primaryKey[0] === column;
}

async function createIndex(ctx: MigrationContext, table: string, index: IndexShape): Promise<void> {
  if (index.substring) return ctx.indexes.createSubstringIndex(index.name, table, index.columns[0]!);
  let builder = ctx.db.schema.createIndex(index.name).on(table).columns(index.columns);
  if (index.unique) builder = builder.unique();
  await builder.execute();
}

export async function apply(o: Operation, ctx: MigrationContext): Promise<void> {
  const { db, types } = ctx;
  switch (o.op) {
    case 'createTable': {
      let builder = db.schema.createTable(o.table.name);
      for (const c of o.table.columns) {
        builder = builder.addColumn(
          c.name,
          resolveType(c.type, types) as never,
          buildColumn(c, singleKey(o.table, c.name)) as never,
        );
      }
      if (o.table.primaryKey.length > 1) {
        builder = builder.addPrimaryKeyConstraint(`pk_${o.table.name}`, o.table.primaryKey as never);
      }
      await builder.execute();
      for (const index of o.table.indexes) await createIndex(ctx, o.table.name, index);
      return;
    }
    case 'dropTable':
      await db.schema.dropTable(o.table.name).execute();
      return;
    case 'addColumn':
      await db.schema
        .alterTable(o.table)
        .addColumn(o.column.name, resolveType(o.column.type, types) as never, buildColumn(o.column, false) as never)
        .execute();
      return;
    case 'dropColumn':
      await db.schema.alterTable(o.table).dropColumn(o.column.name).execute();
      return;
    case 'alterColumn':
      await ctx.alterColumn(o.table, o.to.name, {
        type: resolveType(o.to.type, types),
        nullable: o.to.nullable,
        ...(o.to.default !== undefined ? { default: o.to.default } : {}),
      });
      return;
    case 'createIndex':
      await createIndex(ctx, o.table, o.index);
      return;
    case 'dropIndex':
      if (o.index.substring) await ctx.indexes.dropSubstringIndex(o.index.name, o.table);
      else await ctx.indexes.dropIndex(o.index.name, o.table);
      return;
  }
}

// --- writing an operation as migration source -------------------------------------------------------------

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const literal = (v: DefaultValue) => (typeof v === 'string' ? q(v) : String(v));

function renderColumnType(c: ColumnShape): string {
  return c.unknownType ? `${renderType(c.type)} /* the database had ${c.unknownType}: check */` : renderType(c.type);
}

function renderColumnBuilder(c: ColumnShape, primaryKey: boolean): string {
  const calls: string[] = [];
  if (primaryKey) calls.push('.primaryKey()');
  else if (!c.nullable) calls.push('.notNull()');
  if (c.default !== undefined) calls.push(`.defaultTo(${literal(c.default)})`);
  if (c.references) {
    calls.push(`.references(${q(`${c.references.table}.${c.references.column}`)})`);
    if (c.references.onDelete) calls.push(`.onDelete(${q(c.references.onDelete)})`);
  }
  return calls.length ? `, (c) => c${calls.join('')}` : '';
}

function renderCreateIndex(table: string, index: IndexShape): string[] {
  if (index.substring) {
    return [`await indexes.createSubstringIndex(${q(index.name)}, ${q(table)}, ${q(index.columns[0]!)});`];
  }
  const columns = `[${index.columns.map(q).join(', ')}]`;
  const calls = [`.createIndex(${q(index.name)})`, `.on(${q(table)})`, `.columns(${columns})`];
  if (index.unique) calls.push('.unique()');
  return chain('db.schema', [...calls, '.execute()']);
}

/** `await <head><calls>` on one line when it fits the formatter's width in a function body, else one call a line. */
function chain(head: string, calls: string[]): string[] {
  const line = `await ${head}${calls.join('')};`;
  // Biome keeps a short chain on one line, but breaks one whose calls take a function (a column builder).
  if (line.length <= 118 && !line.includes('=>')) return [line];
  return [`await ${head}`, ...calls.map((c, i) => `  ${c}${i === calls.length - 1 ? ';' : ''}`)];
}

/** The statements of one operation, one per line (without indentation). */
export function render(o: Operation): string[] {
  switch (o.op) {
    case 'createTable': {
      const calls = [`.createTable(${q(o.table.name)})`];
      for (const c of o.table.columns) {
        calls.push(
          `.addColumn(${q(c.name)}, ${renderColumnType(c)}${renderColumnBuilder(c, singleKey(o.table, c.name))})`,
        );
      }
      if (o.table.primaryKey.length > 1) {
        calls.push(`.addPrimaryKeyConstraint(${q(`pk_${o.table.name}`)}, [${o.table.primaryKey.map(q).join(', ')}])`);
      }
      const lines = chain('db.schema', [...calls, '.execute()']);
      for (const index of o.table.indexes) lines.push(...renderCreateIndex(o.table.name, index));
      return lines;
    }
    case 'dropTable':
      return [`await db.schema.dropTable(${q(o.table.name)}).execute();`];
    case 'addColumn':
      return chain('db.schema', [
        `.alterTable(${q(o.table)})`,
        `.addColumn(${q(o.column.name)}, ${renderColumnType(o.column)}${renderColumnBuilder(o.column, false)})`,
        '.execute()',
      ]);
    case 'dropColumn':
      return chain('db.schema', [`.alterTable(${q(o.table)})`, `.dropColumn(${q(o.column.name)})`, '.execute()']);
    case 'alterColumn': {
      const d = o.to.default !== undefined ? `, default: ${literal(o.to.default)}` : '';
      return [
        `await alterColumn(${q(o.table)}, ${q(o.to.name)}, { type: ${resolveTypeSource(o.to)}, nullable: ${o.to.nullable}${d} });`,
      ];
    }
    case 'createIndex':
      return renderCreateIndex(o.table, o.index);
    case 'dropIndex':
      return o.index.substring
        ? [`await indexes.dropSubstringIndex(${q(o.index.name)}, ${q(o.table)});`]
        : [`await indexes.dropIndex(${q(o.index.name)}, ${q(o.table)});`];
  }
}

function resolveTypeSource(c: ColumnShape): string {
  return renderColumnType(c);
}
