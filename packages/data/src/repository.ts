import type { NewRow, RowPatch, TableDefinition } from './table.js';

/** A condition on one column. A bare value means equality; `null` means IS NULL. */
export type Condition<V> =
  | V
  | null
  | {
      eq?: V;
      ne?: V;
      in?: readonly V[];
      isNull?: boolean;
      gt?: V;
      gte?: V;
      lt?: V;
      lte?: V;
      /** Case-insensitive substring match; `%`, `_` and `\` in the term are matched literally. */
      contains?: string;
    };

/** Conditions on several columns, all of which must hold; `$or` holds when any of its branches does. */
export type Filters<Row> = { [K in keyof Row]?: Condition<Exclude<Row[K], null>> } & {
  $or?: readonly Filters<Row>[];
};

export interface OrderBy<Row> {
  column: keyof Row & string;
  direction?: 'asc' | 'desc';
}

export interface ListOptions<Row> {
  filters?: Filters<Row>;
  /** Rows are ordered by this column, then by primary key (the tie-break keeps pages stable). */
  orderBy?: OrderBy<Row>;
  /** Offset paging. Not combinable with `after`. */
  skip?: number;
  /** Keyset paging: the `nextCursor` of the previous page. */
  after?: string;
  /** Page size, default 50. */
  limit?: number;
  /**
   * The columns this list may be ordered by (the endpoint's whitelist). When set, an `orderBy` or a cursor
   * naming any other column is refused. Secret columns are refused whether or not this is set.
   */
  sortable?: readonly string[];
}

export interface Page<Row> {
  items: Row[];
  /** Opaque cursor for the page after this one, or null when this page is the last. */
  nextCursor: string | null;
}

/**
 * The one repository contract, typed by its table. It never commits: a repository obtained from a unit of
 * work writes inside that unit's transaction, one obtained from the database runs each call on its own.
 */
export interface Repository<Row extends object, Optional extends keyof Row = never> {
  create(input: NewRow<Row, Optional>): Promise<Row>;
  createMany(inputs: readonly NewRow<Row, Optional>[]): Promise<Row[]>;
  get(id: string): Promise<Row | undefined>;
  getBy(filters: Filters<Row>): Promise<Row | undefined>;
  list(options?: ListOptions<Row>): Promise<Page<Row>>;
  /**
   * Rows matching the filters. With `atMost`, counting stops there (the answer is min(count, atMost)), so the
   * cost of counting a broad match on a large table is bounded.
   */
  count(filters?: Filters<Row>, options?: { atMost?: number }): Promise<number>;
  /** Applies the patch and returns the updated row, or undefined when no row has this id. */
  update(id: string, patch: RowPatch<Row>): Promise<Row | undefined>;
  /** True when a row was deleted. */
  delete(id: string): Promise<boolean>;
  exists(id: string): Promise<boolean>;
}

/** Something that hands out repositories: a database, a unit of work, or the in-memory store. */
export interface RepositoryProvider {
  repository<Row extends object, Optional extends keyof Row>(
    table: TableDefinition<Row, Optional>,
  ): Repository<Row, Optional>;
}

/** A store that can also run units of work; the service layer depends on this, never on a driver. */
export interface DataStore extends RepositoryProvider {
  /** Runs `work` in one transaction: commits when it resolves, rolls back when it throws. */
  unitOfWork<T>(work: (uow: RepositoryProvider) => Promise<T>): Promise<T>;
}

export const DEFAULT_PAGE_SIZE = 50;
