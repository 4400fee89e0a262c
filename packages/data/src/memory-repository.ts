/**
 * The repository contract in memory, for unit tests of services. It applies the same table rules as the SQL
 * repository (defaults, generated ids, timestamps, unique constraints, paging) but is no database: it knows
 * no foreign keys and no isolation between concurrent units of work. Never use it to test data-layer code.
 */
import { InvalidQueryError, UniqueViolationError } from './errors.js';
import { CursorCodec } from './pagination.js';
import type {
  ClaimOptions,
  Condition,
  DataStore,
  Filters,
  ListOptions,
  LookupFilters,
  Page,
  Repository,
  RepositoryProvider,
  SecretRead,
  Visible,
  WithSecrets,
} from './repository.js';
import type { NewRow, RowPatch, TableDefinition } from './table.js';
import {
  assertBulkFilters,
  assertFilterColumn,
  assertFilterColumns,
  cursorScope,
  nextCursor,
  prepareInsert,
  preparePatch,
  readColumns,
  resolvePaging,
  type TableInfo,
  tableInfo,
  withoutSecrets,
} from './table-rules.js';

type Rows = Map<string, Record<string, unknown>>;
type Tables = Map<string, Rows>;

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  return (a as number) < (b as number) ? -1 : 1;
}

/** `asked`: the secret columns a lookup may match by equality (top level only, as in the SQL repository). */
function matches(
  row: Record<string, unknown>,
  filters: Filters<any>,
  info: TableInfo,
  asked: readonly string[] = [],
): boolean {
  for (const [key, condition] of Object.entries(filters)) {
    if (condition === undefined) continue;
    if (key === '$or') {
      if (!(condition as Filters<any>[]).some((f) => matches(row, f, info))) return false;
      continue;
    }
    assertFilterColumn(info, key, condition, asked);
    if (!matchesCondition(row[key] ?? null, condition as Condition<unknown>)) return false;
  }
  return true;
}

function matchesCondition(value: unknown, condition: Condition<unknown>): boolean {
  if (condition === null) return value === null;
  if (typeof condition !== 'object' || Array.isArray(condition)) return value === condition;
  const c = condition as Record<string, unknown>;
  return Object.entries(c).every(([op, expected]) => {
    if (expected === undefined) return true;
    switch (op) {
      case 'eq':
        return value === expected;
      case 'ne':
        return value !== null && value !== expected;
      case 'in':
        return (expected as unknown[]).includes(value);
      case 'isNull':
        return (value === null) === expected;
      case 'gt':
        return value !== null && compare(value, expected) > 0;
      case 'gte':
        return value !== null && compare(value, expected) >= 0;
      case 'lt':
        return value !== null && compare(value, expected) < 0;
      case 'lte':
        return value !== null && compare(value, expected) <= 0;
      case 'contains':
        return typeof value === 'string' && value.toLowerCase().includes(String(expected).toLowerCase());
      default:
        throw new InvalidQueryError(`Unknown filter operator "${op}"`);
    }
  });
}

/** A copy of the row holding only `columns`, so a caller can neither see unasked secrets nor change stored rows. */
function pick(row: Record<string, unknown>, columns: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of columns) out[column] = row[column] ?? null;
  return out;
}

class MemoryRepository<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string = never>
  implements Repository<Row, Optional, Secret>
{
  private readonly info: TableInfo;

  constructor(
    private readonly tables: Tables,
    table: TableDefinition<Row, Optional, Secret>,
    private readonly cursors: CursorCodec,
  ) {
    this.info = tableInfo(table);
  }

  private get rows(): Rows {
    let rows = this.tables.get(this.info.name);
    if (!rows) {
      rows = new Map();
      this.tables.set(this.info.name, rows);
    }
    return rows;
  }

  private checkUnique(rows: Rows, row: Record<string, unknown>, ignoreId?: string): void {
    const id = String(row[this.info.pk]);
    if (ignoreId === undefined && rows.has(id)) throw new UniqueViolationError([this.info.pk], 'primary_key');
    for (const [name, columns] of Object.entries((this.info.definition.unique ?? {}) as Record<string, string[]>)) {
      if (columns.some((c) => row[c] === null)) continue;
      for (const other of rows.values()) {
        if (other[this.info.pk] === ignoreId) continue;
        if (columns.every((c) => other[c] === row[c])) throw new UniqueViolationError([...columns], name);
      }
    }
  }

  async create(input: NewRow<Row, Optional>): Promise<Visible<Row, Secret>> {
    const [row] = await this.createMany([input]);
    return row as Visible<Row, Secret>;
  }

  async createMany(inputs: readonly NewRow<Row, Optional>[]): Promise<Visible<Row, Secret>[]> {
    const now = new Date().toISOString();
    const rows = inputs.map((input) => prepareInsert(this.info, input as object, now));
    // Check the whole batch before writing any of it, as a multi-row INSERT would.
    const staged = new Map(this.rows);
    for (const row of rows) {
      this.checkUnique(staged, row);
      staged.set(String(row[this.info.pk]), row);
    }
    for (const row of rows) this.rows.set(String(row[this.info.pk]), row);
    return rows.map((r) => withoutSecrets(this.info, r) as Visible<Row, Secret>);
  }

  async get<Asked extends Secret = never>(
    id: string,
    read?: SecretRead<Asked>,
  ): Promise<WithSecrets<Row, Secret, Asked> | undefined> {
    const columns = readColumns(this.info, read);
    const row = this.rows.get(id);
    return row ? (pick(row, columns) as WithSecrets<Row, Secret, Asked>) : undefined;
  }

  async getBy<Asked extends Secret = never>(
    filters: LookupFilters<Row, Secret, NoInfer<Asked>>,
    read?: SecretRead<Asked>,
  ): Promise<WithSecrets<Row, Secret, Asked> | undefined> {
    const columns = readColumns(this.info, read);
    const asked = read?.secrets ?? [];
    assertFilterColumns(this.info, filters, asked);
    for (const row of this.rows.values()) {
      if (matches(row, filters, this.info, asked)) return pick(row, columns) as WithSecrets<Row, Secret, Asked>;
    }
    return undefined;
  }

  async list<Asked extends Secret = never>(
    options: ListOptions<Visible<Row, Secret>> = {},
    read?: SecretRead<Asked>,
  ): Promise<Page<WithSecrets<Row, Secret, Asked>>> {
    const columns = readColumns(this.info, read);
    const paging = resolvePaging(this.info, options, this.cursors);
    assertFilterColumns(this.info, options.filters ?? {});
    const { column, direction, after } = paging;
    const pk = this.info.pk;
    const sign = direction === 'asc' ? 1 : -1;
    let rows = [...this.rows.values()].filter((r) => matches(r, options.filters ?? {}, this.info));
    rows.sort((a, b) => {
      if ((a[column] === null) !== (b[column] === null)) return a[column] === null ? 1 : -1;
      return sign * (compare(a[column], b[column]) || compare(a[pk], b[pk]));
    });
    if (after) {
      rows = rows.filter((r) => {
        // Nulls sort last in both directions (as above): a null follows every value, a value never follows a null.
        const isNull = r[column] === null;
        if (isNull !== (after.value === null)) return isNull;
        const c = (isNull ? 0 : compare(r[column], after.value)) || compare(r[pk], after.id);
        return sign * c > 0;
      });
    }
    const window = rows.slice(paging.skip, paging.skip + paging.limit + 1);
    const items = window.slice(0, paging.limit).map((r) => pick(r, columns));
    return {
      items: items as WithSecrets<Row, Secret, Asked>[],
      nextCursor: nextCursor(
        this.info,
        paging,
        items,
        window.length > paging.limit,
        this.cursors,
        cursorScope(options),
      ),
    };
  }

  async count(filters: Filters<Visible<Row, Secret>> = {}, options: { atMost?: number } = {}): Promise<number> {
    assertFilterColumns(this.info, filters);
    let n = 0;
    for (const row of this.rows.values()) if (matches(row, filters, this.info)) n++;
    return options.atMost === undefined ? n : Math.min(n, options.atMost);
  }

  async update(id: string, patch: RowPatch<Row>): Promise<Visible<Row, Secret> | undefined> {
    const values = preparePatch(this.info, patch as object, new Date().toISOString());
    const current = this.rows.get(id);
    if (!current) return undefined;
    const next = { ...current, ...values };
    this.checkUnique(this.rows, next, id);
    this.rows.set(id, next);
    return withoutSecrets(this.info, next) as Visible<Row, Secret>;
  }

  async updateWhere(filters: Filters<Visible<Row, Secret>>, patch: RowPatch<Row>): Promise<number> {
    assertBulkFilters(this.info, filters, 'updateWhere');
    const values = preparePatch(this.info, patch as object, new Date().toISOString());
    const rows = this.rows;
    const ids = [...rows].filter(([, row]) => matches(row, filters, this.info)).map(([id]) => id);
    // All rows or none, as one UPDATE statement: check uniqueness against the table as it would be afterwards.
    const staged = new Map(rows);
    for (const id of ids) staged.set(id, { ...(rows.get(id) as Record<string, unknown>), ...values });
    for (const id of ids) this.checkUnique(staged, staged.get(id) as Record<string, unknown>, id);
    for (const id of ids) rows.set(id, staged.get(id) as Record<string, unknown>);
    return ids.length;
  }

  /** Synchronous from check to write, so it is atomic here without locks: no other call can interleave. */
  async claim(options: ClaimOptions<Row, Secret>): Promise<Visible<Row, Secret>[]> {
    const { filters, patch } = options;
    assertBulkFilters(this.info, filters, 'claim');
    const { column, direction, limit } = resolvePaging(this.info, options, this.cursors);
    if (!Object.values(patch).some((v) => v !== undefined)) {
      throw new InvalidQueryError('claim needs a patch that marks the rows it claims');
    }
    const values = preparePatch(this.info, patch as object, new Date().toISOString());
    const pk = this.info.pk;
    const sign = direction === 'asc' ? 1 : -1;
    const rows = this.rows;
    const candidates = [...rows.values()].filter((r) => matches(r, filters, this.info));
    candidates.sort((a, b) => {
      if ((a[column] === null) !== (b[column] === null)) return a[column] === null ? 1 : -1;
      return sign * (compare(a[column], b[column]) || compare(a[pk], b[pk]));
    });
    const ids = candidates.slice(0, limit).map((r) => String(r[pk]));
    // All rows or none, as the SQL claim's transaction: check uniqueness against the table as it would be after.
    const staged = new Map(rows);
    for (const id of ids) staged.set(id, { ...(rows.get(id) as Record<string, unknown>), ...values });
    for (const id of ids) this.checkUnique(staged, staged.get(id) as Record<string, unknown>, id);
    const claimed: Visible<Row, Secret>[] = [];
    for (const id of ids) {
      const row = staged.get(id) as Record<string, unknown>;
      rows.set(id, row);
      claimed.push(withoutSecrets(this.info, row) as Visible<Row, Secret>);
    }
    return claimed;
  }

  async delete(id: string): Promise<boolean> {
    return this.rows.delete(id);
  }

  async deleteWhere(filters: Filters<Visible<Row, Secret>>): Promise<number> {
    assertBulkFilters(this.info, filters, 'deleteWhere');
    const rows = this.rows;
    const ids = [...rows].filter(([, row]) => matches(row, filters, this.info)).map(([id]) => id);
    for (const id of ids) rows.delete(id);
    return ids.length;
  }

  async exists(id: string): Promise<boolean> {
    return this.rows.has(id);
  }
}

/** An in-memory DataStore. A unit of work works on a copy and swaps it in on success. */
export class MemoryStore implements DataStore {
  private readonly tables: Tables = new Map();
  private readonly cursors: CursorCodec;

  /** `cursorSecret`: the key that signs keyset cursors (see CursorCodec); random when omitted. */
  constructor(options: { cursorSecret?: string } = {}) {
    this.cursors = new CursorCodec(options.cursorSecret);
  }

  repository<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string = never>(
    table: TableDefinition<Row, Optional, Secret>,
  ): Repository<Row, Optional, Secret> {
    return new MemoryRepository(this.tables, table, this.cursors);
  }

  async unitOfWork<T>(work: (uow: RepositoryProvider) => Promise<T>): Promise<T> {
    const copy: Tables = new Map([...this.tables].map(([name, rows]) => [name, new Map(rows)]));
    const result = await work({ repository: (table) => new MemoryRepository(copy, table, this.cursors) });
    // Swap contents rather than the map itself: repositories handed out earlier keep seeing current data.
    this.tables.clear();
    for (const [name, rows] of copy) this.tables.set(name, rows);
    return result;
  }
}
