/** A database schema reduced to what migrations control, comparable across two databases of one kind. */
export interface SchemaSnapshot {
  tables: Record<string, TableSnapshot>;
}

export interface ColumnSnapshot {
  /** The database's full spelling, with length and collation where they matter (e.g. `character varying(320)`). */
  type: string;
  nullable: boolean;
  /** The default as the database prints it, or null for none. */
  default: string | null;
}

export interface IndexSnapshot {
  columns: string[];
  unique: boolean;
  /** A dialect substring-search index (`createSubstringIndex`) on `columns[0]`. */
  substring?: boolean;
}

export interface ForeignKeySnapshot {
  columns: string[];
  table: string;
  refColumns: string[];
  /** Lower case: 'cascade', 'set null', 'restrict', 'no action', 'set default'. */
  onDelete: string;
}

export interface TableSnapshot {
  columns: Record<string, ColumnSnapshot>;
  indexes: Record<string, IndexSnapshot>;
  primaryKey: string[];
  foreignKeys: ForeignKeySnapshot[];
}

/** One row per (table, column), in column order; a dialect's introspection query yields these. */
export interface ColumnRow {
  table: string;
  column: string;
  type: string;
  nullable: boolean;
  default: string | null;
  primaryKeyPosition: number;
}

/** One row per (index, column), in key order. */
export interface IndexRow {
  table: string;
  name: string;
  column: string;
  unique: boolean;
  substring?: boolean;
}

/** One column of a foreign key as introspection lists it; `group` tells which constraint it belongs to. */
export interface ForeignKeyColumnRow {
  from: string;
  group: string | number;
  column: string;
  table: string;
  ref: string;
  onDelete: string;
}

/** Folds per-column rows (in column order) into one ForeignKeyRow per constraint. */
export function groupForeignKeys(rows: readonly ForeignKeyColumnRow[]): ForeignKeyRow[] {
  const byGroup = new Map<string, ForeignKeyRow>();
  for (const r of rows) {
    const id = `${r.from}\0${r.group}`;
    const fk = byGroup.get(id) ?? {
      from: r.from,
      table: r.table,
      columns: [],
      refColumns: [],
      onDelete: r.onDelete.toLowerCase(),
    };
    fk.columns.push(r.column);
    fk.refColumns.push(r.ref);
    byGroup.set(id, fk);
  }
  return [...byGroup.values()];
}

export interface ForeignKeyRow extends ForeignKeySnapshot {
  from: string;
}

/** Tables the migrator itself owns; they are not part of the application schema. */
export const MIGRATION_TABLE = 'schema_migrations';

/** Builds a snapshot from a dialect's rows (columns, index keys, foreign keys). */
export function buildSnapshot(
  columns: ColumnRow[],
  indexRows: IndexRow[],
  foreignKeys: ForeignKeyRow[] = [],
): SchemaSnapshot {
  const snapshot: SchemaSnapshot = { tables: {} };
  const pk = new Map<string, { column: string; position: number }[]>();
  for (const row of columns) {
    if (row.table === MIGRATION_TABLE) continue;
    const table = snapshot.tables[row.table] ?? { columns: {}, indexes: {}, primaryKey: [], foreignKeys: [] };
    snapshot.tables[row.table] = table;
    table.columns[row.column] = { type: row.type.toLowerCase(), nullable: row.nullable, default: row.default };
    if (row.primaryKeyPosition > 0) {
      const keys = pk.get(row.table) ?? [];
      keys.push({ column: row.column, position: row.primaryKeyPosition });
      pk.set(row.table, keys);
    }
  }
  for (const [name, keys] of pk) {
    const table = snapshot.tables[name];
    if (table) table.primaryKey = keys.sort((a, b) => a.position - b.position).map((k) => k.column);
  }
  for (const row of indexRows) {
    const table = snapshot.tables[row.table];
    if (!table) continue;
    const index = table.indexes[row.name] ?? { columns: [], unique: row.unique };
    table.indexes[row.name] = index;
    if (row.substring) index.substring = true;
    index.columns.push(row.column);
  }
  for (const { from, ...fk } of foreignKeys) {
    snapshot.tables[from]?.foreignKeys.push(fk);
  }
  for (const table of Object.values(snapshot.tables))
    table.foreignKeys.sort((a, b) => fkKey(a).localeCompare(fkKey(b)));
  return snapshot;
}

export function fkKey(fk: ForeignKeySnapshot): string {
  return `(${fk.columns.join(', ')}) -> ${fk.table}(${fk.refColumns.join(', ')}) on delete ${fk.onDelete}`;
}

export function describeColumn(c: ColumnSnapshot): string {
  return `${c.type}${c.nullable ? ' null' : ' not null'}${c.default === null ? '' : ` default ${c.default}`}`;
}

export function describeIndex(i: IndexSnapshot): string {
  return `${i.substring ? 'substring ' : ''}(${i.columns.join(', ')})${i.unique ? ' unique' : ''}`;
}

export function sameColumn(a: ColumnSnapshot, b: ColumnSnapshot): boolean {
  return a.type === b.type && a.nullable === b.nullable && a.default === b.default;
}

export function sameIndex(a: IndexSnapshot, b: IndexSnapshot): boolean {
  return describeIndex(a) === describeIndex(b);
}

/**
 * Human-readable differences between the expected and the live schema; empty when they agree. `source` names
 * what the expected schema comes from ("no migration creates it", "not declared").
 */
export function diffSnapshots(
  expected: SchemaSnapshot,
  live: SchemaSnapshot,
  source: { creates: string; expected: string } = { creates: 'no migration creates it', expected: 'expected' },
): string[] {
  const out: string[] = [];
  for (const name of union(expected.tables, live.tables)) {
    const want = expected.tables[name];
    const have = live.tables[name];
    if (!want) {
      out.push(`table ${name} exists but ${source.creates}`);
      continue;
    }
    if (!have) {
      out.push(`table ${name} is missing`);
      continue;
    }
    for (const col of union(want.columns, have.columns)) {
      const a = want.columns[col];
      const b = have.columns[col];
      if (!a) out.push(`column ${name}.${col} exists but ${source.creates}`);
      else if (!b) out.push(`column ${name}.${col} is missing`);
      else if (!sameColumn(a, b)) {
        out.push(`column ${name}.${col} is ${describeColumn(b)}, ${source.expected} ${describeColumn(a)}`);
      }
    }
    if (want.primaryKey.join(',') !== have.primaryKey.join(',')) {
      out.push(`primary key of ${name} is (${have.primaryKey}), ${source.expected} (${want.primaryKey})`);
    }
    for (const idx of union(want.indexes, have.indexes)) {
      const a = want.indexes[idx];
      const b = have.indexes[idx];
      if (!a) out.push(`index ${idx} on ${name} exists but ${source.creates}`);
      else if (!b) out.push(`index ${idx} on ${name} is missing`);
      else if (!sameIndex(a, b)) {
        out.push(`index ${idx} on ${name} is ${describeIndex(b)}, ${source.expected} ${describeIndex(a)}`);
      }
    }
    const wantFks = new Set(want.foreignKeys.map(fkKey));
    const haveFks = new Set(have.foreignKeys.map(fkKey));
    for (const fk of haveFks) if (!wantFks.has(fk)) out.push(`foreign key ${name}${fk} exists but ${source.creates}`);
    for (const fk of wantFks) if (!haveFks.has(fk)) out.push(`foreign key ${name}${fk} is missing`);
  }
  return out;
}

export function union(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}
