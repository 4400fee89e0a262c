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

/** What `Repository.claim` takes: which rows, in which order, how many, and the patch that marks them claimed. */
export interface ClaimOptions<Row extends object, Secret extends keyof Row = never> {
  /** Conditions a claimable row meets; the patch should make a claimed row stop meeting them (see claim). */
  filters: Filters<Visible<Row, Secret>>;
  /** Rows are claimed in this column's order (nulls last, as in list), then by primary key. */
  orderBy?: OrderBy<Visible<Row, Secret>>;
  /** At most this many rows (a positive integer). */
  limit: number;
  /** Applied to every claimed row as `update` applies it; must write at least one column. */
  patch: RowPatch<Row>;
}

export interface Page<Row> {
  items: Row[];
  /** Opaque cursor for the page after this one, or null when this page is the last. */
  nextCursor: string | null;
}

/** A row as reads return it: every column but the table's secret ones. */
export type Visible<Row, Secret extends keyof Row> = Omit<Row, Secret>;

/** A row with the secret columns a credentials read asked for by name, and no others. */
export type WithSecrets<Row, Secret extends keyof Row, Asked extends Secret> = Omit<Row, Exclude<Secret, Asked>>;

/**
 * The filters of a lookup: conditions on the visible columns as usual, plus plain equality on the secret
 * columns the read names in `{ secrets: [...] }`. That is how credentials code finds a refresh token or an API
 * key by the hash of what the client presents; no other shape (an operator, an `$or` branch, a secret the read
 * does not name) is allowed on a secret column, so nothing but an exact hash can be tested against one.
 */
export type LookupFilters<Row, Secret extends keyof Row, Asked extends Secret> = Filters<Visible<Row, Secret>> & {
  [K in Asked]?: Exclude<Row[K], null>;
};

/**
 * Names the secret columns a read returns besides the visible ones. Only credentials code asks (login, the
 * token check, a password change, an export of hashes); every other read never sees them.
 */
export interface SecretRead<Asked> {
  secrets: readonly Asked[];
}

/**
 * The one repository contract, typed by its table. It never commits: a repository obtained from a unit of
 * work writes inside that unit's transaction, one obtained from the database runs each call on its own.
 * Secret columns (TableDefinition.secret) are written like any other, but never filtered, sorted or paged by,
 * and left out of every row returned unless a read names them in `{ secrets: [...] }`.
 */
export interface Repository<
  Row extends object,
  Optional extends keyof Row = never,
  Secret extends keyof Row & string = never,
> {
  create(input: NewRow<Row, Optional>): Promise<Visible<Row, Secret>>;
  createMany(inputs: readonly NewRow<Row, Optional>[]): Promise<Visible<Row, Secret>[]>;
  get<Asked extends Secret = never>(
    id: string,
    read?: SecretRead<Asked>,
  ): Promise<WithSecrets<Row, Secret, Asked> | undefined>;
  /**
   * The first row matching the filters. Secret columns named in `read.secrets` may be matched by equality
   * (see LookupFilters); `Asked` is inferred from `read` alone, so naming a secret in the filters does not
   * make it readable, nor filterable, by itself.
   */
  getBy<Asked extends Secret = never>(
    filters: LookupFilters<Row, Secret, NoInfer<Asked>>,
    read?: SecretRead<Asked>,
  ): Promise<WithSecrets<Row, Secret, Asked> | undefined>;
  list<Asked extends Secret = never>(
    options?: ListOptions<Visible<Row, Secret>>,
    read?: SecretRead<Asked>,
  ): Promise<Page<WithSecrets<Row, Secret, Asked>>>;
  /**
   * Rows matching the filters. With `atMost`, counting stops there (the answer is min(count, atMost)), so the
   * cost of counting a broad match on a large table is bounded.
   */
  count(filters?: Filters<Visible<Row, Secret>>, options?: { atMost?: number }): Promise<number>;
  /** Applies the patch and returns the updated row (secrets left out), or undefined when no row has this id. */
  update(id: string, patch: RowPatch<Row>): Promise<Visible<Row, Secret> | undefined>;
  /**
   * Applies the patch, as `update` would (same checks, derived columns, updated-at stamp), to every row
   * matching the filters, in one statement, and returns how many rows matched, whether or not their values
   * changed. Empty filters are refused (InvalidQueryError): a whole-table update must not be one typo away.
   * Being one statement, it is a compare-and-set: `updateWhere({ id, used_at: null }, { used_at: now })`
   * returns 1 to exactly one of several concurrent callers and 0 to the others.
   */
  updateWhere(filters: Filters<Visible<Row, Secret>>, patch: RowPatch<Row>): Promise<number>;
  /**
   * Claims up to `limit` rows matching `filters`, in `orderBy` order (then primary key), and applies `patch` to
   * them; returns the claimed rows as updated (secrets left out), in that order. Rows another transaction is
   * claiming at the same moment are skipped, never returned to two callers: on PostgreSQL and MySQL/MariaDB the
   * candidates are selected `FOR UPDATE SKIP LOCKED`; on SQLite (a single writer) claims never interleave
   * within a process (one connection), and a claim racing one in another process fails with
   * DatabaseUnavailableError (its snapshot went stale) rather than take the same rows. Each row is also
   * updated compare-and-set (its filters re-checked in the UPDATE), so even without row locks a row goes to
   * exactly one caller. The patch should make a claimed row stop matching `filters` (a `locked_until` moved
   * into the future, a status changed); otherwise the next claim takes it again.
   * Inside a unit of work it joins that transaction, and the rows stay locked until it ends; called on the
   * database it runs in a transaction of its own. Empty filters are refused as in updateWhere, an empty patch
   * too. On MySQL/MariaDB give the order an index (or leave `orderBy` out): a sort no index serves reads, and
   * so locks, every matching row, and concurrent callers then skip them all and come back short.
   */
  claim(options: ClaimOptions<Row, Secret>): Promise<Visible<Row, Secret>[]>;
  /** True when a row was deleted. */
  delete(id: string): Promise<boolean>;
  /** Deletes every row matching the filters and returns how many; empty filters are refused as in updateWhere. */
  deleteWhere(filters: Filters<Visible<Row, Secret>>): Promise<number>;
  exists(id: string): Promise<boolean>;
}

/** Something that hands out repositories: a database, a unit of work, or the in-memory store. */
export interface RepositoryProvider {
  repository<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string = never>(
    table: TableDefinition<Row, Optional, Secret>,
  ): Repository<Row, Optional, Secret>;
}

/** A store that can also run units of work; the service layer depends on this, never on a driver. */
export interface DataStore extends RepositoryProvider {
  /** Runs `work` in one transaction: commits when it resolves, rolls back when it throws. */
  unitOfWork<T>(work: (uow: RepositoryProvider) => Promise<T>): Promise<T>;
}

export const DEFAULT_PAGE_SIZE = 50;
