import type { RootOperationNode } from 'kysely';

/**
 * Rules every repository implementation applies identically (SQL and in-memory): which columns exist,
 * what a create fills in, what a patch may touch, how a list is ordered and paged. Computed per table once.
 */
import {
  ConstraintViolationError,
  type DataError,
  InvalidCursorError,
  InvalidQueryError,
  UniqueViolationError,
} from './errors.js';
import type { CursorCodec, CursorPosition } from './pagination.js';
import { DEFAULT_PAGE_SIZE, type ListOptions } from './repository.js';
import { type ColumnType, columnType, type TableDefinition } from './table.js';

export interface TableInfo {
  name: string;
  pk: string;
  columns: readonly string[];
  types: ReadonlyMap<string, ColumnType>;
  nullable: ReadonlySet<string>;
  /** Columns that may never be filtered, sorted or paged by, nor returned unasked (TableDefinition.secret). */
  secret: ReadonlySet<string>;
  /** The columns every read returns: all but the secret ones. */
  visible: readonly string[];
  definition: TableDefinition<any, any, any>;
  /** Compiled equality lookups, by dialect kind (see SqlRepository.equalityLookup). */
  lookups: Map<string, LookupCache>;
  /** The column lists of reads that name secret columns, by those names (so each list keeps its identity). */
  selections: Map<string, readonly string[]>;
}

/**
 * One dialect's compiled equality lookups of a table: by the filter's columns (joined by NUL), then by the
 * selected column list (one of TableInfo's lists: `visible` or a `selections` entry, so identity is enough).
 */
export type LookupCache = Map<string, Map<readonly string[], CompiledLookup>>;

/** A SELECT ... WHERE c1 = ? AND ... LIMIT 1, compiled once; `tail` are its parameters after the filter values. */
export interface CompiledLookup {
  readonly sql: string;
  readonly query: RootOperationNode;
  readonly tail: readonly unknown[];
}

/** This dialect's lookup cache of the table. */
export function lookupCache(info: TableInfo, dialect: string): LookupCache {
  let cache = info.lookups.get(dialect);
  if (!cache) {
    cache = new Map();
    info.lookups.set(dialect, cache);
  }
  return cache;
}

const cache = new WeakMap<object, TableInfo>();

export function tableInfo(table: TableDefinition<any, any, any>): TableInfo {
  let info = cache.get(table);
  if (!info) {
    const types = new Map<string, ColumnType>();
    const nullable = new Set<string>();
    for (const [name, spec] of Object.entries(table.columns as Record<string, string>)) {
      const c = columnType(spec as never);
      types.set(name, c.type);
      if (c.nullable) nullable.add(name);
    }
    info = {
      name: table.name,
      pk: table.primaryKey,
      columns: [...types.keys()],
      types,
      nullable,
      secret: new Set<string>(table.secret ?? []),
      visible: [...types.keys()].filter((c) => !(table.secret ?? []).includes(c as never)),
      definition: table,
      lookups: new Map(),
      selections: new Map(),
    };
    cache.set(table, info);
  }
  return info;
}

export function assertColumn(info: TableInfo, column: string): void {
  if (!info.types.has(column)) throw new InvalidQueryError(`Table ${info.name} has no column "${column}"`);
}

/**
 * The columns a read selects: the visible ones, plus the secret ones it names. Naming a column that is not
 * secret (or not there) is refused, so a typo cannot silently read less than the caller thinks. The same read
 * gets the same array each time: compiled lookups and row decoders are kept by it.
 */
export function readColumns(info: TableInfo, read: { secrets: readonly string[] } | undefined): readonly string[] {
  if (!read || read.secrets.length === 0) return info.visible;
  for (const column of read.secrets) {
    if (!info.secret.has(column)) throw new InvalidQueryError(`"${column}" is not a secret column of ${info.name}`);
  }
  // Secret column names only (checked above): at most one list per ordered choice of them.
  const key = read.secrets.length === 1 ? (read.secrets[0] as string) : read.secrets.join('\0');
  let columns = info.selections.get(key);
  if (!columns) {
    columns = info.columns.filter((c) => !info.secret.has(c) || read.secrets.includes(c));
    info.selections.set(key, columns);
  }
  return columns;
}

/** The row without its secret columns, as create and update return it. */
export function withoutSecrets(info: TableInfo, row: Record<string, unknown>): Record<string, unknown> {
  if (info.secret.size === 0) return { ...row };
  const out: Record<string, unknown> = {};
  for (const column of info.visible) out[column] = row[column];
  return out;
}

/** A column a query may filter or sort by: it exists and is not secret. */
export function assertQueryableColumn(info: TableInfo, column: string): void {
  assertColumn(info, column);
  if (info.secret.has(column)) throw new InvalidQueryError(`Column "${column}" cannot be filtered or sorted by`);
}

/**
 * A column a filter may test with this condition: a visible column, or a secret one that the read named
 * (`asked`) compared with a plain value. Null, `undefined` and operators are refused on a secret column:
 * an operator would make it an oracle (`gt` bisects a hash), and an `undefined` value is skipped by the
 * filter, so a credentials lookup handed an undefined hash would match any row instead of none.
 */
export function assertFilterColumn(
  info: TableInfo,
  column: string,
  condition: unknown,
  asked: readonly string[] = [],
): void {
  assertColumn(info, column);
  if (!info.secret.has(column)) return;
  if (!asked.includes(column)) {
    throw new InvalidQueryError(`Column "${column}" cannot be filtered or sorted by`);
  }
  if (condition === null || condition === undefined || typeof condition === 'object') {
    throw new InvalidQueryError(`Secret column "${column}" can only be matched by equality with a value`);
  }
}

/**
 * Throws on a filter naming an unknown or secret column, even when no row would be tested against it. Secret
 * columns the read named (`asked`) may be matched by equality at the top level; never inside `$or`, whose
 * branches would let one lookup test several guesses.
 */
export function assertFilterColumns(info: TableInfo, filters: object, asked: readonly string[] = []): void {
  for (const [key, value] of Object.entries(filters)) {
    if (key === '$or') for (const branch of value as object[]) assertFilterColumns(info, branch);
    else assertFilterColumn(info, key, value, asked);
  }
}

/**
 * Whether the filters restrict the rows at all. `{}`, `{ id: undefined }` (a condition is skipped when its
 * value is undefined) and an `$or` with such a branch match every row.
 */
function restricts(filters: object): boolean {
  return Object.entries(filters).some(([key, value]) => {
    if (value === undefined) return false;
    if (key === '$or') return (value as object[]).every(restricts);
    return true;
  });
}

/** Refuses filters that match every row, for the bulk writes (updateWhere, deleteWhere), and checks columns. */
export function assertBulkFilters(info: TableInfo, filters: object, operation: string): void {
  assertFilterColumns(info, filters);
  if (!restricts(filters)) {
    throw new InvalidQueryError(`${operation} needs filters that restrict the rows; refusing to touch every row`);
  }
}

/** What a cursor is bound to besides its table: the list's filters, so it cannot be replayed on another query. */
export function cursorScope(options: ListOptions<any>): string {
  return JSON.stringify(options.filters ?? {});
}

/** The complete row a create writes: input plus defaults, generated id and timestamps. */
export function prepareInsert(info: TableInfo, input: object, now: string): Record<string, unknown> {
  const t = info.definition;
  const row: Record<string, unknown> = {};
  for (const key of Object.keys(input)) assertColumn(info, key);
  const values: Record<string, unknown> = { ...input };
  applyDerived(info, values, values);
  for (const column of info.columns) {
    let value = values[column];
    if (value === undefined) value = (t.defaults as Record<string, unknown> | undefined)?.[column];
    if (value === undefined && column === info.pk && t.generateId) value = t.generateId();
    if (value === undefined && (column === t.timestamps?.createdAt || column === t.timestamps?.updatedAt)) value = now;
    if (value === undefined) value = null;
    if (value === null && !info.nullable.has(column)) throw new ConstraintViolationError('not_null', column);
    row[column] = value;
  }
  return row;
}

/** Sets each derived column whose source column is in `source`. */
function applyDerived(info: TableInfo, source: Record<string, unknown>, out: Record<string, unknown>): void {
  const derived = (info.definition.derived ?? {}) as Record<string, { from: string; value: (v: unknown) => unknown }>;
  for (const [column, rule] of Object.entries(derived)) {
    if (!(rule.from in source)) continue;
    const from = source[rule.from];
    out[column] = from === null || from === undefined ? null : rule.value(from);
  }
}

/** The columns an update writes: the patch, checked, plus the updated-at stamp. */
export function preparePatch(info: TableInfo, patch: object, now: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    assertColumn(info, key);
    if (key === info.pk) throw new InvalidQueryError('The primary key cannot be updated');
    if (value === null && !info.nullable.has(key)) throw new ConstraintViolationError('not_null', key);
    out[key] = value;
  }
  applyDerived(info, out, out);
  const updatedAt = info.definition.timestamps?.updatedAt;
  if (updatedAt) out[updatedAt] = now;
  return out;
}

export interface Paging {
  column: string;
  direction: 'asc' | 'desc';
  nullable: boolean;
  after: CursorPosition | undefined;
  skip: number;
  limit: number;
}

export function resolvePaging(info: TableInfo, options: ListOptions<any>, cursors: CursorCodec): Paging {
  const limit = options.limit ?? DEFAULT_PAGE_SIZE;
  const skip = options.skip ?? 0;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidQueryError('limit must be a positive integer');
  if (!Number.isInteger(skip) || skip < 0) throw new InvalidQueryError('skip must be a non-negative integer');
  let column = options.orderBy?.column ?? info.pk;
  let direction = options.orderBy?.direction ?? 'asc';
  assertQueryableColumn(info, column);
  // Without an explicit order, a cursor brings its own (checked below); the default needs no whitelist entry.
  if (options.sortable && options.orderBy && !options.sortable.includes(column)) {
    throw new InvalidQueryError(`Cannot sort by "${column}"`);
  }
  let after: CursorPosition | undefined;
  if (options.after !== undefined) {
    if (skip > 0) throw new InvalidQueryError('skip and a cursor cannot be combined');
    after = cursors.decode(info.name, cursorScope(options), options.after);
    if (options.orderBy && (after.column !== column || after.direction !== direction)) {
      throw new InvalidCursorError('Invalid cursor: it was issued for a different sort order');
    }
    ({ column, direction } = after);
    // Only ever true for a cursor signed with our key; checked again so a leaked key alone buys nothing.
    if (
      !info.types.has(column) ||
      info.secret.has(column) ||
      (options.sortable !== undefined && !options.sortable.includes(column)) ||
      (after.value === null && !info.nullable.has(column))
    ) {
      throw new InvalidCursorError('Invalid cursor: unknown sort column');
    }
  }
  const nullable = info.nullable.has(column);
  return { column, direction, nullable, after, skip, limit };
}

/** The cursor pointing after `last`, when a page came back full (so more rows may follow). */
export function nextCursor(
  info: TableInfo,
  paging: Paging,
  rows: Record<string, unknown>[],
  hasMore: boolean,
  cursors: CursorCodec,
  scope: string,
): string | null {
  const last = rows[rows.length - 1];
  if (!hasMore || !last) return null;
  const value = last[paging.column] ?? null;
  // A null is a position only where the column may hold one (the page ended among the nulls, which sort last).
  if (value === null ? !paging.nullable : typeof value === 'object') return null;
  return cursors.encode(info.name, scope, {
    column: paging.column,
    direction: paging.direction,
    value: value as CursorPosition['value'],
    id: String(last[info.pk]),
  });
}

/** Names the constraint and its columns on every database, whichever of the two the driver reported. */
export function completeUniqueViolation(info: TableInfo, error: DataError): DataError {
  if (!(error instanceof UniqueViolationError)) return error;
  const unique = (info.definition.unique ?? {}) as Record<string, readonly string[]>;
  const c = error.constraint;
  if (c === 'PRIMARY' || c === `${info.name}_pkey` || (!c && error.columns.join(',') === info.pk)) {
    return new UniqueViolationError([info.pk], 'primary_key', { cause: error.cause });
  }
  if (c && unique[c] && error.columns.length === 0) {
    return new UniqueViolationError([...unique[c]], c, { cause: error.cause });
  }
  if (!c && error.columns.length > 0) {
    const key = error.columns.join(',');
    const name = Object.keys(unique).find((n) => unique[n]?.join(',') === key);
    if (name) return new UniqueViolationError(error.columns, name, { cause: error.cause });
  }
  return error;
}
