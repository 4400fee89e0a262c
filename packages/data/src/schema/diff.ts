import {
  type ColumnSnapshot,
  describeColumn,
  describeIndex,
  fkKey,
  type SchemaSnapshot,
  sameColumn,
  sameIndex,
  type TableSnapshot,
} from '../migrations/schema-snapshot.js';
import type { ColumnShape, DefaultValue, IndexShape, OnDelete, TableShape, TypeSpec } from './declare.js';
import type { Operation } from './operations.js';

export interface SchemaDiff {
  /** What `up` does, in order; `down` is their inverses in reverse order. */
  operations: Operation[];
  /** One line per difference, as `migrate check` prints them. */
  messages: string[];
  /** Differences autogenerate does not write (primary keys, foreign keys of existing columns). */
  unsupported: string[];
}

/** Maps a type as the connected database spells it back to `types.*`, when one of them produces it. */
export type TypeLookup = (dbType: string) => TypeSpec | undefined;

/**
 * Compares `expected` (the declared tables, created in a scratch schema of the same server) with `live` and
 * lists the operations that turn live into declared. Comparing two introspections of one server means every
 * type, default and implicit detail is spelled the same way on both sides.
 */
export function diffDeclared(
  declared: readonly TableShape[],
  expected: SchemaSnapshot,
  live: SchemaSnapshot,
  lookup: TypeLookup,
): SchemaDiff {
  const byName = new Map(declared.map((t) => [t.name, t]));
  const dropIndexes: Operation[] = [];
  const alters: Operation[] = [];
  const dropColumns: Operation[] = [];
  const dropTables: Operation[] = [];
  const createTables: Operation[] = [];
  const addColumns: Operation[] = [];
  const createIndexes: Operation[] = [];
  const messages: string[] = [];
  const unsupported: string[] = [];

  for (const t of dependencyOrder(declared)) {
    if (!live.tables[t.name]) {
      createTables.push({ op: 'createTable', table: t });
      messages.push(`table ${t.name} is declared but missing in the database`);
    }
  }
  const liveOnly = Object.keys(live.tables).filter((n) => !byName.has(n));
  for (const name of liveDropOrder(liveOnly, live)) {
    dropTables.push({ op: 'dropTable', table: liveTable(name, live.tables[name]!, lookup) });
    messages.push(`table ${name} exists in the database but is not declared`);
  }

  for (const d of declared) {
    const want = expected.tables[d.name];
    const have = live.tables[d.name];
    if (!want || !have) continue;
    const liveShape = liveTable(d.name, have, lookup);
    const declaredColumns = new Map(d.columns.map((c) => [c.name, c]));
    const liveColumns = new Map(liveShape.columns.map((c) => [c.name, c]));
    const changedColumns = new Set<string>();
    for (const c of d.columns) {
      const h = have.columns[c.name];
      if (!h) {
        addColumns.push({ op: 'addColumn', table: d.name, column: c });
        messages.push(`column ${d.name}.${c.name} is declared but missing in the database`);
        changedColumns.add(c.name);
      } else if (!sameColumn(want.columns[c.name]!, h)) {
        alters.push({ op: 'alterColumn', table: d.name, from: liveColumns.get(c.name)!, to: c });
        messages.push(
          `column ${d.name}.${c.name} is ${describeColumn(h)} in the database, declared ${describeColumn(want.columns[c.name]!)}`,
        );
      }
    }
    for (const c of liveShape.columns) {
      if (declaredColumns.has(c.name)) continue;
      dropColumns.push({ op: 'dropColumn', table: d.name, column: c });
      messages.push(`column ${d.name}.${c.name} exists in the database but is not declared`);
      changedColumns.add(c.name);
    }
    const declaredIndexes = new Map(d.indexes.map((i) => [i.name, i]));
    for (const [name, h] of Object.entries(have.indexes)) {
      const w = want.indexes[name];
      if (w && sameIndex(w, h)) continue;
      dropIndexes.push({ op: 'dropIndex', table: d.name, index: liveIndex(name, h) });
      if (w) {
        createIndexes.push({ op: 'createIndex', table: d.name, index: declaredIndexes.get(name)! });
        messages.push(
          `index ${name} on ${d.name} is ${describeIndex(h)} in the database, declared ${describeIndex(w)}`,
        );
      } else {
        messages.push(`index ${name} on ${d.name} exists in the database but is not declared`);
      }
    }
    for (const [name] of Object.entries(want.indexes)) {
      if (have.indexes[name]) continue;
      // An index the declaring dialect does not build (a substring index off PostgreSQL) is absent on both sides.
      const index = declaredIndexes.get(name);
      if (!index) continue;
      createIndexes.push({ op: 'createIndex', table: d.name, index });
      messages.push(`index ${name} on ${d.name} is declared but missing in the database`);
    }
    if (want.primaryKey.join(',') !== have.primaryKey.join(',')) {
      const line = `primary key of ${d.name} is (${have.primaryKey}) in the database, declared (${want.primaryKey})`;
      messages.push(line);
      unsupported.push(line);
    }
    const touches = (fk: { columns: string[] }) => fk.columns.some((c) => changedColumns.has(c));
    const wantFks = new Set(want.foreignKeys.filter((f) => !touches(f)).map(fkKey));
    const haveFks = new Set(have.foreignKeys.filter((f) => !touches(f)).map(fkKey));
    for (const fk of haveFks) {
      if (wantFks.has(fk)) continue;
      const line = `foreign key ${d.name}${fk} exists in the database but is not declared`;
      messages.push(line);
      unsupported.push(line);
    }
    for (const fk of wantFks) {
      if (haveFks.has(fk)) continue;
      const line = `foreign key ${d.name}${fk} is declared but missing in the database`;
      messages.push(line);
      unsupported.push(line);
    }
  }
  return {
    operations: [
      ...dropIndexes,
      ...alters,
      ...dropColumns,
      ...dropTables,
      ...createTables,
      ...addColumns,
      ...createIndexes,
    ],
    messages,
    unsupported,
  };
}

/** Tables ordered so that a referenced table comes before the tables referencing it. */
export function dependencyOrder(tables: readonly TableShape[]): TableShape[] {
  const names = new Set(tables.map((t) => t.name));
  const done = new Set<string>();
  const out: TableShape[] = [];
  const visit = (t: TableShape, path: Set<string>) => {
    if (done.has(t.name) || path.has(t.name)) return;
    path.add(t.name);
    for (const c of t.columns) {
      const ref = c.references?.table;
      if (ref && ref !== t.name && names.has(ref)) visit(tables.find((x) => x.name === ref)!, path);
    }
    done.add(t.name);
    out.push(t);
  };
  for (const t of tables) visit(t, new Set());
  return out;
}

function liveDropOrder(names: string[], live: SchemaSnapshot): string[] {
  const shapes = names.map((name) => ({
    name,
    primaryKey: [],
    indexes: [],
    columns: live.tables[name]!.foreignKeys.map((fk) => ({
      name: fk.columns[0]!,
      type: { kind: 'text' } as const,
      nullable: true,
      references: { table: fk.table, column: fk.refColumns[0]! },
    })),
  }));
  return dependencyOrder(shapes)
    .map((t) => t.name)
    .reverse();
}

function liveIndex(name: string, i: TableSnapshot['indexes'][string]): IndexShape {
  return { name, columns: [...i.columns], unique: i.unique, ...(i.substring ? { substring: true } : {}) };
}

/** A live table as autogenerate would declare it (for `down` of a drop). */
export function liveTable(name: string, t: TableSnapshot, lookup: TypeLookup): TableShape {
  const columns = Object.entries(t.columns).map(([column, c]) => {
    const shape = liveColumn(column, c, lookup);
    const fk = t.foreignKeys.find((f) => f.columns.length === 1 && f.columns[0] === column);
    if (fk) {
      shape.references = { table: fk.table, column: fk.refColumns[0]! };
      if (fk.onDelete === 'cascade' || fk.onDelete === 'set null') shape.references.onDelete = fk.onDelete as OnDelete;
    }
    return shape;
  });
  return {
    name,
    columns,
    primaryKey: [...t.primaryKey],
    indexes: Object.entries(t.indexes).map(([n, i]) => liveIndex(n, i)),
  };
}

function liveColumn(name: string, c: ColumnSnapshot, lookup: TypeLookup): ColumnShape {
  const type = lookup(c.type);
  const shape: ColumnShape = { name, type: type ?? { kind: 'text' }, nullable: c.nullable };
  if (!type) shape.unknownType = c.type;
  const value = parseDefault(c.default);
  if (value !== undefined) shape.default = value;
  return shape;
}

/** A default as the database prints it, back to a literal: `'x'::character varying` -> 'x', `0` -> 0. */
export function parseDefault(text: string | null): DefaultValue | undefined {
  if (text === null) return undefined;
  const quoted = /^'((?:[^']|'')*)'(::[\w\s"]+)?$/.exec(text);
  if (quoted) return quoted[1]!.replace(/''/g, "'");
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}
