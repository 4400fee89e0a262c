/**
 * Database.bulkLoad's part that is the same on every database: the rows made complete as a create makes them
 * (defaults, generated id, timestamps, derived columns), and which secondary indexes are dropped before the load
 * and built again after it, read from the live schema (`introspect`) so any table works. How the rows travel and
 * what is one transaction is each dialect's (Dialect.bulkLoad).
 */
import type { Kysely } from 'kysely';
import type { BulkLoad, Dialect } from './dialects/dialect.js';
import { InvalidQueryError } from './errors.js';
import type { IndexSnapshot, TableSnapshot } from './migrations/schema-snapshot.js';
import type { NewRow, TableDefinition } from './table.js';
import { prepareInsert, tableInfo } from './table-rules.js';

export interface BulkLoadOptions {
  /**
   * Drop the table's secondary indexes before the load and build them again after it (one sorted build instead
   * of one insertion a row: what makes a load into PostgreSQL's trigram indexes fast). Default: when the table
   * is empty. On a large table that already has rows, rebuilding may cost more than the load saves.
   */
  rebuildIndexes?: boolean;
  /** Rows per statement (or chunk of COPY data); each database has its own default and upper bound. */
  rowsPerStatement?: number;
  /** Told the number of rows sent so far, after each statement or chunk. */
  onProgress?: (rows: number) => void;
}

export interface NamedIndex extends IndexSnapshot {
  name: string;
}

/**
 * The indexes a load takes down and builds again: secondary indexes on plain columns, and substring indexes
 * (rebuilt through the dialect's own create/drop). Kept in place: the primary key; an index whose columns are
 * not all plain columns (an expression: the snapshot cannot say how to build it again); an index that starts
 * with a foreign key's columns (MySQL refuses to drop it while the key needs it); and every unique index. A
 * unique index may back a UNIQUE constraint, which PostgreSQL and SQLite refuse to drop as an index (the snapshot
 * cannot tell the two apart: the review of issue 13 found bulkLoad failing on such tables), and kept, it fails
 * the load's own transaction on a duplicate, so nothing of the load stays, on every database. The SQLite and
 * PostgreSQL dialects take down, with these, the unique indexes their catalogs show no constraint needs, and
 * build them again inside the load's transaction (sqlite-bulk-load.ts, postgres-bulk-load.ts).
 */
export function indexesToRebuild(snapshot: TableSnapshot): NamedIndex[] {
  const columns = new Set(Object.keys(snapshot.columns));
  const foreignKeyed = (index: IndexSnapshot) =>
    snapshot.foreignKeys.some((fk) => fk.columns.every((column, i) => index.columns[i] === column));
  return Object.entries(snapshot.indexes)
    .filter(([, index]) => index.columns.every((column) => columns.has(column)))
    .filter(([, index]) => index.substring || !foreignKeyed(index))
    .filter(([, index]) => !index.unique)
    .map(([name, index]) => ({ name, ...index }));
}

/**
 * Removes what repeats a loaded row from a failed load's error and its causes: PostgreSQL's COPY context (`where`:
 * "COPY users, line 3, column hashed_password: ...") and `detail` ("Failing row contains (...)", "Key (email)=(...)",
 * read by mapError before this runs), mysql2's `sql` (the INSERT with its values). A load's rows may hold secrets
 * (password hashes), and an error may be logged whole. The messages stay: they name columns, not values.
 */
export function withoutRowValues(error: unknown): void {
  for (
    let e = error, depth = 0;
    e && typeof e === 'object' && depth < 8;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    for (const key of ['where', 'detail', 'sql', 'parameters'] as const) {
      if (key in e) delete (e as Record<string, unknown>)[key];
    }
  }
}

export async function dropIndexes(
  db: Kysely<any>,
  dialect: Dialect,
  table: string,
  indexes: readonly NamedIndex[],
): Promise<void> {
  for (const index of indexes) {
    if (index.substring) await dialect.dropSubstringIndex(db, index.name, table);
    else await dialect.dropIndex(db, index.name, table);
  }
}

/** Builds the indexes again the way migrations build them (createIndex, createSubstringIndex). */
export async function createIndexes(
  db: Kysely<any>,
  dialect: Dialect,
  table: string,
  indexes: readonly NamedIndex[],
): Promise<void> {
  for (const index of indexes) {
    if (index.substring) {
      await dialect.createSubstringIndex(db, index.name, table, index.columns[0] as string);
      continue;
    }
    const create = db.schema.createIndex(index.name).on(table).columns(index.columns);
    await (index.unique ? create.unique() : create).execute();
  }
}

/** Rows completed per batch handed to the dialect: one await per batch, not per row. */
const BATCH_ROWS = 1_000;
/** What Date#toISOString writes: such a value needs no parsing to be known valid and canonical. */
const CANONICAL_ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The rows as complete arrays of plain values in `columns` order, checked as a create checks them, in batches. */
export async function* completeRows<Row extends object, Optional extends keyof Row>(
  table: TableDefinition<Row, Optional, any>,
  rows: AsyncIterable<NewRow<Row, Optional>> | Iterable<NewRow<Row, Optional>>,
): AsyncGenerator<unknown[][]> {
  const info = tableInfo(table);
  const timestamps = info.columns.map((column) => info.types.get(column) === 'timestamp');
  const now = new Date().toISOString();
  const complete = (input: NewRow<Row, Optional>): unknown[] => {
    const row = prepareInsert(info, input as object, now);
    const values = info.columns.map((column) => row[column]);
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (!timestamps[i] || value === null || value === undefined) continue;
      if (typeof value === 'string' && CANONICAL_ISO.test(value)) continue;
      const date = new Date(value as string);
      if (Number.isNaN(date.getTime())) throw new InvalidQueryError(`${info.columns[i]} needs an ISO-8601 timestamp`);
      values[i] = date.toISOString();
    }
    return values;
  };
  let batch: unknown[][] = [];
  // A synchronous source (a generator) is read without an await per row.
  if (Symbol.iterator in rows) {
    for (const input of rows) {
      batch.push(complete(input));
      if (batch.length < BATCH_ROWS) continue;
      yield batch;
      batch = [];
    }
  } else {
    for await (const input of rows) {
      batch.push(complete(input));
      if (batch.length < BATCH_ROWS) continue;
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** What Dialect.bulkLoad is given: the rows, the columns, and the drop and rebuild of `indexes`. */
export function bulkLoadPlan<Row extends object, Optional extends keyof Row>(
  dialect: Dialect,
  table: TableDefinition<Row, Optional, any>,
  rows: AsyncIterable<NewRow<Row, Optional>> | Iterable<NewRow<Row, Optional>>,
  indexes: readonly NamedIndex[],
  options: BulkLoadOptions,
): BulkLoad {
  const info = tableInfo(table);
  return {
    table: info.name,
    columns: info.columns.map((name) => ({ name, type: info.types.get(name) ?? 'string' })),
    rows: completeRows(table, rows),
    rowsPerStatement: options.rowsPerStatement,
    indexes,
    dropIndexes: (db, which) => dropIndexes(db, dialect, info.name, which),
    createIndexes: (db, which) => createIndexes(db, dialect, info.name, which),
    onProgress: options.onProgress,
  };
}
