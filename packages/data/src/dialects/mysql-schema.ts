import { type Kysely, sql } from 'kysely';
import {
  buildSnapshot,
  type ColumnRow,
  groupForeignKeys,
  type IndexRow,
  type SchemaSnapshot,
} from '../migrations/schema-snapshot.js';
import type { ColumnChange } from './dialect.js';

/** Tables, columns (COLUMN_TYPE spelling, plus a binary collation), indexes and foreign keys of database(). */
export async function introspectMysql(kysely: Kysely<any>): Promise<SchemaSnapshot> {
  const columns = await sql<{
    table: string;
    column: string;
    type: string;
    collation: string | null;
    nullable: string;
    default: string | null;
    key: number | null;
  }>`
    select c.table_name as \`table\`, c.column_name as \`column\`, c.column_type as type,
      c.collation_name as collation, c.is_nullable as nullable, c.column_default as \`default\`,
      k.ordinal_position as \`key\`
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    left join information_schema.key_column_usage k on k.table_schema = c.table_schema
      and k.table_name = c.table_name and k.column_name = c.column_name and k.constraint_name = 'PRIMARY'
    where c.table_schema = database() and t.table_type = 'BASE TABLE'
    order by c.table_name, c.ordinal_position`.execute(kysely);
  const rows: ColumnRow[] = columns.rows.map((r) => ({
    table: r.table,
    column: r.column,
    // types.key: a byte-compared collation; the default collation is the server's and is left out.
    type: r.collation?.endsWith('_bin') ? `${r.type} collate ${r.collation}` : r.type,
    nullable: r.nullable === 'YES',
    // MariaDB prints 'NULL' for a nullable column without a default.
    default: r.default === null || r.default === 'NULL' ? null : r.default,
    primaryKeyPosition: Number(r.key ?? 0),
  }));
  const indexes = await sql<Omit<IndexRow, 'unique'> & { unique: number }>`
    select table_name as \`table\`, index_name as name, column_name as \`column\`, (non_unique = 0) as \`unique\`
    from information_schema.statistics
    where table_schema = database() and index_name <> 'PRIMARY'
    order by table_name, index_name, seq_in_index`.execute(kysely);
  const fks = await sql<{ from: string; name: string; column: string; table: string; ref: string; onDelete: string }>`
    select k.table_name as \`from\`, k.constraint_name as name, k.column_name as \`column\`,
      k.referenced_table_name as \`table\`, k.referenced_column_name as ref, r.delete_rule as onDelete
    from information_schema.key_column_usage k
    join information_schema.referential_constraints r
      on r.constraint_schema = k.constraint_schema and r.constraint_name = k.constraint_name
      and r.table_name = k.table_name
    where k.table_schema = database() and k.referenced_table_name is not null
    order by k.table_name, k.constraint_name, k.ordinal_position`.execute(kysely);
  return buildSnapshot(
    rows,
    indexes.rows.map((r) => ({ ...r, unique: Boolean(r.unique) })),
    groupForeignKeys(fks.rows.map((r) => ({ ...r, group: r.name }))),
  );
}

/** MODIFY COLUMN restates the whole column: type, nullability and default at once. */
export async function alterMysqlColumn(
  db: Kysely<any>,
  table: string,
  column: string,
  to: ColumnChange,
): Promise<void> {
  await db.schema
    .alterTable(table)
    .modifyColumn(column, to.type as never, (c) => {
      const withNull = to.nullable ? c : c.notNull();
      return to.default === undefined ? withNull : withNull.defaultTo(to.default);
    })
    .execute();
}
