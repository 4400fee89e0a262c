import { type Kysely, sql } from 'kysely';
import {
  buildSnapshot,
  type ColumnRow,
  groupForeignKeys,
  type IndexRow,
  type SchemaSnapshot,
} from '../migrations/schema-snapshot.js';
import { sqliteSubstringIndexes } from './sqlite-substring.js';

// Ordinary tables only: a substring index's FTS5 table ('virtual') and the tables it keeps its index in
// ('shadow') are reported as the index they are, not as tables (pragma table_list tells them apart).
const ORDINARY = sql`m.name in (select name from pragma_table_list where schema = 'main' and type = 'table')`;

/** Tables, columns (declared type), indexes and foreign keys of the main database. */
export async function introspectSqlite(kysely: Kysely<any>): Promise<SchemaSnapshot> {
  const columns = await sql<{
    table: string;
    column: string;
    type: string;
    notnull: number;
    default: string | null;
    pk: number;
  }>`
    select m.name as "table", c.name as "column", c.type as type, c."notnull" as "notnull",
      c.dflt_value as "default", c.pk as pk
    from sqlite_master m
    join pragma_table_info(m.name) c
    where m.type = 'table' and m.name not like 'sqlite_%' and ${ORDINARY}
    order by m.name, c.cid`.execute(kysely);
  const rows: ColumnRow[] = columns.rows.map((r) => ({
    table: r.table,
    column: r.column,
    type: r.type,
    nullable: !r.notnull,
    default: r.default,
    primaryKeyPosition: r.pk,
  }));
  const indexes = await sql<Omit<IndexRow, 'unique'> & { unique: number }>`
    select m.tbl_name as "table", il.name as name, ii.name as "column", il."unique" as "unique"
    from sqlite_master m
    join pragma_index_list(m.tbl_name) il
    join pragma_index_info(il.name) ii
    where m.type = 'table' and il.origin <> 'pk' and ${ORDINARY}
    order by m.tbl_name, il.name, ii.seqno`.execute(kysely);
  const fks = await sql<{ from: string; id: number; column: string; table: string; ref: string; onDelete: string }>`
    select m.name as "from", f.id as id, f."from" as "column", f."table" as "table", f."to" as ref,
      f.on_delete as "onDelete"
    from sqlite_master m
    join pragma_foreign_key_list(m.name) f
    where m.type = 'table' and ${ORDINARY}
    order by m.name, f.id, f.seq`.execute(kysely);
  return buildSnapshot(
    rows,
    [
      ...indexes.rows.map((r) => ({ ...r, unique: Boolean(r.unique) })),
      ...(await sqliteSubstringIndexes(kysely)).map((i) => ({ ...i, unique: false, substring: true })),
    ],
    groupForeignKeys(fks.rows.map((r) => ({ ...r, group: r.id }))),
  );
}
