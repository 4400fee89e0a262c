import { type Kysely, sql } from 'kysely';
import {
  buildSnapshot,
  type ColumnRow,
  type ForeignKeyRow,
  type IndexRow,
  type SchemaSnapshot,
} from '../migrations/schema-snapshot.js';
import type { ColumnChange } from './dialect.js';

const ON_DELETE: Record<string, string> = {
  a: 'no action',
  r: 'restrict',
  c: 'cascade',
  n: 'set null',
  d: 'set default',
};

/** Tables, columns (format_type spelling), indexes and foreign keys of the current schema. */
export async function introspectPostgres(kysely: Kysely<any>): Promise<SchemaSnapshot> {
  const columns = await sql<ColumnRow>`
    select c.relname as "table", a.attname as "column", format_type(a.atttypid, a.atttypmod) as type,
      not a.attnotnull as nullable, pg_get_expr(d.adbin, d.adrelid) as "default",
      coalesce(array_position(pk.conkey, a.attnum), 0) as "primaryKeyPosition"
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    left join pg_constraint pk on pk.conrelid = c.oid and pk.contype = 'p'
    where n.nspname = current_schema() and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
    order by c.relname, a.attnum`.execute(kysely);
  const keys = await sql<{ table: string; name: string; key: string; unique: boolean; def: string }>`
    select t.relname as "table", i.relname as name, pg_get_indexdef(ix.indexrelid, k.ord::int, true) as key,
      ix.indisunique as "unique", pg_get_indexdef(ix.indexrelid) as def
    from pg_index ix
    join pg_class i on i.oid = ix.indexrelid
    join pg_class t on t.oid = ix.indrelid
    join pg_namespace n on n.oid = t.relnamespace
    join lateral unnest(ix.indkey) with ordinality as k(attnum, ord) on true
    where n.nspname = current_schema() and not ix.indisprimary
    order by t.relname, i.relname, k.ord`.execute(kysely);
  const indexes: IndexRow[] = keys.rows.map((r) => {
    // createSubstringIndex's shape: gin (lower(column) gin_trgm_ops)
    const trigram = /gin_trgm_ops/.test(r.def) ? /^lower\(\(?"?([^)":]+)"?/.exec(r.key)?.[1] : undefined;
    return trigram
      ? { table: r.table, name: r.name, column: trigram, unique: r.unique, substring: true }
      : { table: r.table, name: r.name, column: r.key.replace(/^"(.*)"$/, '$1'), unique: r.unique };
  });
  const fks = await sql<{ from: string; columns: string; table: string; refColumns: string; onDelete: string }>`
    select c.relname as "from", r.relname as "table", con.confdeltype as "onDelete",
      (select string_agg(a.attname, ',' order by k.ord) from unnest(con.conkey) with ordinality k(n, ord)
        join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n) as columns,
      (select string_agg(a.attname, ',' order by k.ord) from unnest(con.confkey) with ordinality k(n, ord)
        join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n) as "refColumns"
    from pg_constraint con
    join pg_class c on c.oid = con.conrelid
    join pg_class r on r.oid = con.confrelid
    join pg_namespace n on n.oid = c.relnamespace
    where con.contype = 'f' and n.nspname = current_schema()`.execute(kysely);
  const foreignKeys: ForeignKeyRow[] = fks.rows.map((r) => ({
    from: r.from,
    table: r.table,
    columns: r.columns.split(','),
    refColumns: r.refColumns.split(','),
    onDelete: ON_DELETE[r.onDelete] ?? r.onDelete,
  }));
  return buildSnapshot(
    columns.rows.map((r) => ({ ...r, primaryKeyPosition: Number(r.primaryKeyPosition) })),
    indexes,
    foreignKeys,
  );
}

/** Changes a column's type, nullability and default in place. */
export async function alterPostgresColumn(
  db: Kysely<any>,
  table: string,
  column: string,
  to: ColumnChange,
): Promise<void> {
  const alter = () => db.schema.alterTable(table);
  await alter()
    .alterColumn(column, (c) => c.setDataType(to.type as never))
    .execute();
  await alter()
    .alterColumn(column, (c) => (to.nullable ? c.dropNotNull() : c.setNotNull()))
    .execute();
  await alter()
    .alterColumn(column, (c) => (to.default === undefined ? c.dropDefault() : c.setDefault(to.default)))
    .execute();
}
