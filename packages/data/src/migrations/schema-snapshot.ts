import type { Kysely } from 'kysely';

/** A database schema reduced to what migrations control, comparable across two databases of one kind. */
export interface SchemaSnapshot {
  tables: Record<string, TableSnapshot>;
}

export interface TableSnapshot {
  columns: Record<string, { type: string; nullable: boolean }>;
  indexes: Record<string, { columns: string[]; unique: boolean }>;
}

export interface IndexRow {
  table: string;
  name: string;
  column: string;
  unique: boolean;
}

/** Tables the migrator itself owns; they are not part of the application schema. */
export const MIGRATION_TABLE = 'schema_migrations';

/**
 * Builds a snapshot from Kysely's column introspection plus one row per (index, column) from a dialect query.
 * `schema` narrows to one schema where the introspector lists several (PostgreSQL).
 */
export async function buildSnapshot(
  kysely: Kysely<any>,
  indexRows: IndexRow[],
  schema?: string,
): Promise<SchemaSnapshot> {
  const tables = await kysely.introspection.getTables();
  const snapshot: SchemaSnapshot = { tables: {} };
  for (const table of tables) {
    if (table.isView || table.name === MIGRATION_TABLE) continue;
    if (schema !== undefined && table.schema !== schema) continue;
    const columns: TableSnapshot['columns'] = {};
    for (const column of table.columns) {
      columns[column.name] = { type: column.dataType.toLowerCase(), nullable: column.isNullable };
    }
    snapshot.tables[table.name] = { columns, indexes: {} };
  }
  for (const row of indexRows) {
    const table = snapshot.tables[row.table];
    if (!table) continue;
    table.indexes[row.name] ??= { columns: [], unique: row.unique };
    table.indexes[row.name]?.columns.push(row.column);
  }
  return snapshot;
}

/** Human-readable differences between the expected and the live schema; empty when they agree. */
export function diffSnapshots(expected: SchemaSnapshot, live: SchemaSnapshot): string[] {
  const out: string[] = [];
  for (const name of union(expected.tables, live.tables)) {
    const want = expected.tables[name];
    const have = live.tables[name];
    if (!want) {
      out.push(`table ${name} exists but no migration creates it`);
      continue;
    }
    if (!have) {
      out.push(`table ${name} is missing`);
      continue;
    }
    for (const col of union(want.columns, have.columns)) {
      const a = want.columns[col];
      const b = have.columns[col];
      if (!a) out.push(`column ${name}.${col} exists but no migration creates it`);
      else if (!b) out.push(`column ${name}.${col} is missing`);
      else if (a.type !== b.type || a.nullable !== b.nullable) {
        out.push(`column ${name}.${col} is ${describe(b)}, expected ${describe(a)}`);
      }
    }
    for (const idx of union(want.indexes, have.indexes)) {
      const a = want.indexes[idx];
      const b = have.indexes[idx];
      if (!a) out.push(`index ${idx} on ${name} exists but no migration creates it`);
      else if (!b) out.push(`index ${idx} on ${name} is missing`);
      else if (a.unique !== b.unique || a.columns.join(',') !== b.columns.join(',')) {
        out.push(
          `index ${idx} on ${name} differs: (${b.columns}) unique=${b.unique}, expected (${a.columns}) unique=${a.unique}`,
        );
      }
    }
  }
  return out;
}

function union(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

function describe(c: { type: string; nullable: boolean }): string {
  return `${c.type}${c.nullable ? ' null' : ' not null'}`;
}
