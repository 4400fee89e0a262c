import {
  type AliasedSelectQueryBuilder,
  type CompiledQuery,
  createQueryId,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type QueryCreator,
  type SelectQueryBuilder,
  type SqlBool,
  sql,
} from 'kysely';
import type { Dialect } from './dialects/dialect.js';
import { DataError, InvalidQueryError } from './errors.js';
import type { CursorCodec } from './pagination.js';
import type {
  ClaimOptions,
  Condition,
  Filters,
  ListOptions,
  LookupFilters,
  Page,
  Repository,
  SecretRead,
  Visible,
  WithSecrets,
} from './repository.js';
import { rowDecoder } from './row-decoder.js';
import type { NewRow, RowPatch, TableDefinition } from './table.js';
import {
  assertBulkFilters,
  assertFilterColumn,
  assertFilterColumns,
  type CompiledLookup,
  completeUniqueViolation,
  cursorScope,
  type LookupCache,
  lookupCache,
  nextCursor,
  type Paging,
  prepareInsert,
  preparePatch,
  readColumns,
  resolvePaging,
  type TableInfo,
  tableInfo,
  withoutSecrets,
} from './table-rules.js';

type Eb = ExpressionBuilder<any, any>;

/** The selection of `exists`, `select 1`, as a key of the lookup cache beside the column lists. */
const EXISTS: readonly string[] = [];
const NO_SECRETS: readonly string[] = [];

const OPERATORS = new Set(['eq', 'ne', 'in', 'isNull', 'gt', 'gte', 'lt', 'lte', 'contains']);
const COMPARISONS = { eq: '=', ne: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/** The values a page query binds, in this order: a template binds them by index (see placeholder). */
interface PageValues {
  value: unknown;
  id: unknown;
  take: unknown;
  skip: unknown;
}
const PAGE_VALUES = ['value', 'id', 'take', 'skip'] as const;

/** Selection -> shape -> template; null: the shape cannot be templated (built per call). */
type PageCache = Map<readonly string[], Map<string, Template | null>>;

/**
 * A statement compiled once with placeholders for its values; `slots[i]` is the index of the value that
 * parameter i takes, or -1 for a constant of the compiled statement (kept as compiled).
 */
interface Template {
  readonly sql: string;
  readonly query: CompiledQuery['query'];
  readonly parameters: readonly unknown[];
  readonly slots: readonly number[];
}

/** Column lists of one-row writes a table keeps compiled, at most (each UPDATE's set of columns is one). */
const WRITE_TEMPLATES = 64;

const placeholders: symbol[] = [];

/** The i-th value placeholder, recognised by identity among a compiled statement's parameters. */
function placeholder(i: number): symbol {
  for (let n = placeholders.length; n <= i; n++) placeholders.push(Symbol(`value ${n}`));
  return placeholders[i] as symbol;
}

/** The template of a statement compiled with placeholders; null unless each `required` one is a parameter. */
function templateOf(compiled: CompiledQuery, required: readonly number[]): Template | null {
  const slots = compiled.parameters.map((p) => (typeof p === 'symbol' ? placeholders.indexOf(p) : -1));
  if (!required.every((i) => slots.includes(i))) return null;
  return { sql: compiled.sql, query: compiled.query, parameters: compiled.parameters, slots };
}

/** The template's statement with `values` bound, as Kysely's compile would have made it. */
function bind(template: Template, values: readonly unknown[]): CompiledQuery {
  const parameters = template.parameters.map((p, i) => {
    const slot = template.slots[i] as number;
    return slot < 0 ? p : values[slot];
  });
  return { sql: template.sql, query: template.query, parameters, queryId: createQueryId() };
}

const pageCaches = new WeakMap<TableInfo, Map<string, PageCache>>();
const writeCaches = new WeakMap<TableInfo, Map<string, Map<string, Template | null>>>();

/** This dialect's cache of the table in `caches` (shared by every repository of it: scopes, transactions). */
function cacheOf<C>(caches: WeakMap<TableInfo, Map<string, C>>, info: TableInfo, dialect: string, make: () => C): C {
  let byDialect = caches.get(info);
  if (!byDialect) {
    byDialect = new Map();
    caches.set(info, byDialect);
  }
  let cache = byDialect.get(dialect);
  if (!cache) {
    cache = make();
    byDialect.set(dialect, cache);
  }
  return cache;
}

const substringIndexCache = new WeakMap<TableInfo, ReadonlyMap<string, string>>();

/**
 * Column -> its declared substring index, worked out once per table: a unit of work makes new repositories for
 * every transaction (issue 13: the PATCH path), which need not walk the schema again.
 */
function substringIndexesOf(info: TableInfo): ReadonlyMap<string, string> {
  let indexes = substringIndexCache.get(info);
  if (!indexes) {
    indexes = new Map(
      Object.entries(info.definition.schema?.indexes ?? {}).flatMap(([name, i]) =>
        i.substring && i.columns[0] ? [[i.columns[0], name] as const] : [],
      ),
    );
    substringIndexCache.set(info, indexes);
  }
  return indexes;
}

/**
 * Rows of each table as last counted, per database handle: what decides whether a deep page is read from the far
 * end (Dialect.fromTheEnd). An estimate is enough, since it only picks the direction: the page's own statement
 * counts the rows it offsets by.
 */
const counted = new WeakMap<Kysely<any>, Map<string, { rows: number; at: number }>>();
/** How long a count decides directions before it is taken again. */
const COUNT_FRESH_MS = 1_000;
/** Offsets below this are read from the start whatever the table's size: stepping over them costs less than a count. */
const FROM_END_MIN_SKIP = 10_000;

/** Whether a filter object holds any condition (`where` skips undefined ones). */
function hasConditions(filters: Filters<any>): boolean {
  for (const key in filters) if ((filters as Record<string, unknown>)[key] !== undefined) return true;
  return false;
}

/** Marks a `contains` condition that the column's substring index is to serve (see `planSearch`). */
const SERVED = Symbol('served by the substring index');

/** LIKE pattern for a literal substring; '!' is the escape character because it needs no quoting anywhere. */
export function containsPattern(term: string): string {
  return `%${term.toLowerCase().replace(/[!%_]/g, '!$&')}%`;
}

/**
 * The repository contract over SQL, for every dialect. Values cross the boundary through the dialect's
 * encoders on the way in and `decodeRow` on the way out, so rows are plain and identical everywhere.
 */
export class SqlRepository<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string = never>
  implements Repository<Row, Optional, Secret>
{
  private readonly info: TableInfo;
  /** This dialect's compiled equality lookups of the table (see equalityLookup). */
  private readonly lookups: LookupCache;
  /**
   * Column -> its substring index, as the table's schema declares them: the declaration that `migrate check`
   * compares with the database, so it names what the migrations built, with nothing to read or invalidate at
   * run time (units of work and replicas see the same). A database that has not run the migration that builds
   * one fails the search on SQLite instead of scanning: migrate first.
   */
  private readonly substringIndexes: ReadonlyMap<string, string>;
  /** This dialect's compiled unfiltered page queries of the table, by selection and shape (see pageRows). */
  private readonly pages: PageCache;
  /** This dialect's compiled one-row INSERT and UPDATE-by-key statements of the table (see writeTemplate). */
  private readonly writes: Map<string, Template | null>;

  constructor(
    private readonly db: Kysely<any>,
    private readonly dialect: Dialect,
    table: TableDefinition<Row, Optional, Secret>,
    private readonly cursors: CursorCodec,
  ) {
    this.info = tableInfo(table);
    this.lookups = lookupCache(this.info, dialect.kind);
    this.pages = cacheOf(pageCaches, this.info, dialect.kind, () => new Map());
    this.writes = cacheOf(writeCaches, this.info, dialect.kind, () => new Map());
    this.substringIndexes = substringIndexesOf(this.info);
  }

  async create(input: NewRow<Row, Optional>): Promise<Visible<Row, Secret>> {
    const [row] = await this.createMany([input]);
    return row as Visible<Row, Secret>;
  }

  async createMany(inputs: readonly NewRow<Row, Optional>[]): Promise<Visible<Row, Secret>[]> {
    if (inputs.length === 0) return [];
    const now = new Date().toISOString();
    const rows = inputs.map((input) => prepareInsert(this.info, input as object, now));
    // Stay under every driver's bound-parameter limit (SQLite's is the lowest at 32766).
    const chunk = Math.max(1, Math.floor(30_000 / this.info.columns.length));
    if (rows.length === 1) {
      // One row (every create of the service, every audit event): the INSERT of all columns, compiled once.
      const encoded = this.encodeRow(rows[0] as Record<string, unknown>);
      const insert = this.writeTemplate('insert', () => {
        const row = Object.fromEntries(this.info.columns.map((c, i) => [c, placeholder(i)]));
        return { compiled: this.db.insertInto(this.info.name).values(row).compile(), count: this.info.columns.length };
      });
      if (insert) {
        await this.guard(() =>
          this.run(
            bind(
              insert,
              this.info.columns.map((c) => encoded[c]),
            ),
          ),
        );
        return [withoutSecrets(this.info, rows[0] as Record<string, unknown>) as Visible<Row, Secret>];
      }
    }
    await this.guard(async () => {
      for (let i = 0; i < rows.length; i += chunk) {
        await this.db
          .insertInto(this.info.name)
          .values(rows.slice(i, i + chunk).map((r) => this.encodeRow(r)))
          .execute();
      }
    });
    // The inserted rows are exactly what we built: no database-side defaults, so no need to read them back.
    return rows.map((row) => withoutSecrets(this.info, row) as Visible<Row, Secret>);
  }

  async get<Asked extends Secret = never>(
    id: string,
    read?: SecretRead<Asked>,
  ): Promise<WithSecrets<Row, Secret, Asked> | undefined> {
    const { pk } = this.info;
    // The hot path (issue 13): getBy's checks and lookup for one key, without the filter object.
    if (!isLookupValue(id)) return this.getBy({ [pk]: id } as LookupFilters<Row, Secret, Asked>, read);
    const columns = readColumns(this.info, read);
    assertFilterColumn(this.info, pk, id, read?.secrets ?? NO_SECRETS);
    return this.lookupRow(this.compiledLookup(pk, [pk], columns), [this.encode(pk, id)], columns);
  }

  async getBy<Asked extends Secret = never>(
    filters: LookupFilters<Row, Secret, NoInfer<Asked>>,
    read?: SecretRead<Asked>,
  ): Promise<WithSecrets<Row, Secret, Asked> | undefined> {
    const columns = readColumns(this.info, read);
    const asked = read?.secrets ?? NO_SECRETS;
    // Checked before building anything: `where` skips an undefined condition, and on a secret column that
    // must be refused, not turned into a lookup that matches any row.
    assertFilterColumns(this.info, filters, asked);
    const lookup = this.equalityLookup(filters, columns);
    if (lookup) return this.lookupRow(lookup.compiled, lookup.values, columns);
    const row = await this.guard(() =>
      this.db
        .selectFrom(this.info.name)
        .select(columns)
        .where((eb) => this.where(eb, filters, asked))
        .limit(1)
        .executeTakeFirst(),
    );
    return row ? this.decodeRow(row, columns) : undefined;
  }

  async list<Asked extends Secret = never>(
    options: ListOptions<Visible<Row, Secret>> = {},
    read?: SecretRead<Asked>,
  ): Promise<Page<WithSecrets<Row, Secret, Asked>>> {
    options = { ...options, filters: await this.guard(() => this.planSearch(options.filters)) };
    const columns = readColumns(this.info, read);
    const paging = resolvePaging(this.info, options, this.cursors);
    const raw = await this.guard(() => this.pageRows(paging, options.filters ?? {}, columns));
    const hasMore = raw.length > paging.limit;
    const items = raw.slice(0, paging.limit).map((r) => this.decodeRow<WithSecrets<Row, Secret, Asked>>(r, columns));
    const next = nextCursor(
      this.info,
      paging,
      items as Record<string, unknown>[],
      hasMore,
      this.cursors,
      cursorScope(options),
    );
    return { items, nextCursor: next };
  }

  /**
   * The page's rows (one more than the limit). Without filters (the plain list, by offset or cursor) the SQL
   * differs only in its values, so it is compiled once per dialect, selection, sort column, direction and paging
   * kind, and run with new parameters: building and compiling the Kysely query was ~15% of a list request
   * (issue 13's profiles). Filtered lists, whose SQL depends on the filters, are built per call.
   */
  private async pageRows(
    paging: Paging,
    filters: Filters<any>,
    columns: readonly string[],
  ): Promise<Record<string, unknown>[]> {
    const take = paging.limit + 1;
    const { after } = paging;
    const values: PageValues = {
      value:
        after && paging.column !== this.info.pk && after.value !== null
          ? this.encode(paging.column, after.value)
          : undefined,
      id: after?.id,
      take,
      skip: paging.skip,
    };
    if (hasConditions(filters)) return this.pageQuery(paging, filters, columns, values).execute();
    if (this.dialect.fromTheEndInTwoSteps && this.deepEnough(paging) && !this.db.isTransaction) {
      const rows = this.freshCount();
      if (rows === undefined || paging.skip > rows / 2) return this.countThenPage(paging, columns, values);
    }
    const fromEnd = await this.readFromEnd(paging);
    const template = this.compiledPage(paging, columns, fromEnd);
    if (!template) return this.pageQuery(paging, filters, columns, values).execute();
    return this.run(
      bind(
        template,
        PAGE_VALUES.map((k) => values[k]),
      ),
    );
  }

  /** An offset page deep enough that reading it from the far end may pay: no cursor, skip past FROM_END_MIN_SKIP. */
  private deepEnough(paging: Paging): boolean {
    return !paging.after && paging.skip >= FROM_END_MIN_SKIP;
  }

  /** This table's row count as last taken, if taken within COUNT_FRESH_MS. */
  private freshCount(): number | undefined {
    const known = counted.get(this.db)?.get(this.info.name);
    return known && Date.now() - known.at <= COUNT_FRESH_MS ? known.rows : undefined;
  }

  /**
   * Whether this unfiltered offset page is read from the list's far end (Dialect.fromTheEnd): where the dialect
   * counts cheaply and the page lies in the second half of the table as last counted. SQLite at 1M users: a
   * page at 90-100% stepped over ~950k index entries (about 40 ms); from the end it steps over at most half as
   * many, after a count.
   */
  private async readFromEnd(paging: Paging): Promise<boolean> {
    if (!this.dialect.fromTheEnd || !this.deepEnough(paging)) return false;
    const rows = this.freshCount() ?? this.rememberCount(await this.count());
    return paging.skip > rows / 2;
  }

  /** Keeps `rows` as this table's count for the choice of direction, for COUNT_FRESH_MS. */
  private rememberCount(rows: number): number {
    let tables = counted.get(this.db);
    if (!tables) {
      tables = new Map();
      counted.set(this.db, tables);
    }
    tables.set(this.info.name, { rows, at: Date.now() });
    return rows;
  }

  /**
   * A deep page where the statement cannot compute its own LIMIT (Dialect.fromTheEndInTwoSteps), past the middle
   * of the table or with no fresh count to tell: the rows counted, then the page read with the numbers that count
   * gives (backwards from the end past the middle, else forward), in one read-only REPEATABLE READ transaction.
   * MySQL sessions here run READ COMMITTED, where each statement sees the latest commits: a row added between
   * the count and the page would shift it. The one count also picks the direction and is kept for the next
   * pages (at 1M users on MariaDB it costs 240 ms: never a second one for the same page). Not inside a unit of
   * work, whose transaction is READ COMMITTED: there the page is read forward, in one statement. The count is
   * named `page_total`, as the one-statement form's CTE (what tests look for).
   */
  private countThenPage(
    paging: Paging,
    columns: readonly string[],
    values: PageValues,
  ): Promise<Record<string, unknown>[]> {
    return this.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        const { page_total } = await trx
          .selectFrom(this.info.name)
          .select((eb) => eb.fn.countAll().as('page_total'))
          .executeTakeFirstOrThrow();
        const rows = this.rememberCount(Number(page_total));
        if (paging.skip <= rows / 2) return this.pageQuery(paging, {}, columns, values, false, trx).execute();
        const take = values.take as number;
        const limit = Math.max(0, Math.min(take, rows - paging.skip));
        if (limit === 0) return [];
        const offset = Math.max(0, rows - paging.skip - take);
        return this.pageQuery(paging, {}, columns, values, { limit, offset }, trx).execute();
      });
  }

  /** The unfiltered page query of this shape, compiled once with placeholders for its values (see pageRows). */
  private compiledPage(paging: Paging, columns: readonly string[], fromEnd = false): Template | undefined {
    let byShape = this.pages.get(columns);
    if (!byShape) {
      byShape = new Map();
      this.pages.set(columns, byShape);
    }
    // A cursor among the nulls has a query of its own ('z': no value to compare, only the key).
    const cursor = paging.after ? (paging.after.value === null ? 'z' : 'a') : '';
    const shape = `${paging.column}\0${paging.direction}\0${paging.nullable ? 'n' : ''}${paging.skip > 0 ? 'o' : ''}${fromEnd ? 'e' : ''}${cursor}`;
    let page = byShape.get(shape);
    if (page === undefined) {
      const marks = Object.fromEntries(PAGE_VALUES.map((k, i) => [k, placeholder(i)])) as unknown as PageValues;
      const compiled = this.pageQuery(paging, {}, columns, marks, fromEnd).compile();
      // Each value the shape binds must have its parameter (the cursor's value has two), or the template is not
      // used and the query is built per call.
      const bound = {
        value: Boolean(paging.after) && paging.column !== this.info.pk && paging.after?.value !== null,
        id: Boolean(paging.after),
        take: true,
        skip: paging.skip > 0,
      };
      page = templateOf(
        compiled,
        PAGE_VALUES.flatMap((k, i) => (bound[k] ? [i] : [])),
      );
      byShape.set(shape, page);
    }
    return page ?? undefined;
  }

  /**
   * The page's SELECT: by offset through a deferred join, or from the cursor's position (keyset). `fromEnd`
   * (unfiltered offset pages, see readFromEnd): the deferred join walks the list backwards from its end.
   */
  private pageQuery(
    paging: Paging,
    filters: Filters<any>,
    columns: readonly string[],
    values: PageValues,
    fromEnd: boolean | { limit: number; offset: number } = false,
    db: Kysely<any> = this.db,
  ): SelectQueryBuilder<any, any, Record<string, unknown>> {
    const { pk } = this.info;
    const { column, direction, after } = paging;
    const table = this.info.name;
    // The page's ordering, with columns qualified by `from` (the table, or the deferred join's page below);
    // `reversed`: the same order backwards, every key of it (the nulls too: first instead of last).
    const ordered = <Q extends { orderBy: (...args: any[]) => Q }>(q: Q, from: string, reversed = false): Q => {
      const dir = reversed ? (direction === 'asc' ? 'desc' : 'asc') : direction;
      // Nulls sort last in both directions on every database (each has its own default otherwise).
      let out = paging.nullable
        ? q.orderBy(sql`(${sql.ref(`${from}.${column}`)} is null)`, reversed ? 'desc' : 'asc')
        : q;
      out = out.orderBy(`${from}.${column}`, dir);
      return column !== pk ? out.orderBy(`${from}.${pk}`, dir) : out;
    };
    const matching = (eb: Eb) => {
      const conditions = [this.where(eb, filters)];
      if (after) {
        const op = direction === 'asc' ? '>' : '<';
        const id = eb.ref(pk);
        const sorted = eb.ref(column);
        if (column === pk) conditions.push(eb(id, op, values.id));
        // Nulls sort last in both directions: after a null, only the later nulls (by key) are left...
        else if (after.value === null) conditions.push(eb.and([eb(sorted, 'is', null), eb(id, op, values.id)]));
        else {
          const later = [eb(sorted, op, values.value), eb.and([eb(sorted, '=', values.value), eb(id, op, values.id)])];
          // ...and after a value, every null is still to come.
          if (paging.nullable) later.push(eb(sorted, 'is', null));
          conditions.push(eb.or(later));
        }
      }
      return eb.and(conditions);
    };
    // A deferred join: the keys walked by `keys` (an offset over the sort column's index), then only the page's
    // rows read whole, joined by key; `from` may carry the CTEs the keys' LIMIT and OFFSET name.
    const keyColumns = [pk, ...(column !== pk ? [column] : [])];
    const joined = (from: QueryCreator<any>, keys: AliasedSelectQueryBuilder<any, 'page'>) =>
      ordered(
        from
          .selectFrom(keys)
          .innerJoin(table, `${table}.${pk}`, `page.${pk}`)
          .select(columns.map((c) => `${table}.${c}` as const)),
        'page',
      );
    // Only an unfiltered offset page past FROM_END_MIN_SKIP without a cursor gets here with fromEnd (readFromEnd).
    if (typeof fromEnd === 'object') {
      // Counted already (countThenPage): the numbers are known.
      const keys = ordered(db.selectFrom(table).select(keyColumns), table, true);
      return joined(db, keys.limit(fromEnd.limit).offset(fromEnd.offset).as('page'));
    }
    const end = fromEnd ? this.dialect.fromTheEnd : undefined;
    if (end) {
      // The rows are counted in the statement itself (one snapshot: a row added meanwhile cannot shift the page),
      // by a CTE that is a bare count(*) (what SQLite answers from the b-tree's pages), and the page's values come
      // from a second one, so each is bound once, by name.
      const { limit, offset } = end(sql.ref('page_total.n'), sql.ref('page_values.skip'), sql.ref('page_values.take'));
      const from = sql`${sql.table('page_total')}, ${sql.table('page_values')}`;
      const keys = ordered(db.selectFrom(table).select(keyColumns), table, true)
        .limit(sql<number>`(select ${limit} from ${from})`)
        .offset(sql<number>`(select ${offset} from ${from})`)
        .as('page');
      return joined(
        db
          .with('page_total', (cte) => cte.selectFrom(table).select((eb) => eb.fn.countAll().as('n')))
          .with('page_values', (cte) =>
            cte.selectNoFrom([sql`${values.skip}`.as('skip'), sql`${values.take}`.as('take')]),
          ),
        keys,
      );
    }
    if (paging.skip > 0 && (this.dialect.defersFilteredPages !== false || !hasConditions(filters))) {
      // Deferred join: the rows an offset skips are walked as primary keys only, in the sort column's index
      // (an index-only scan where the index holds the key: (created_at, id) here; InnoDB and SQLite indexes
      // carry the key anyway), and only the page's rows are then read whole. Offsetting the full rows read
      // every skipped row from the table (issue 13: 45 deep pages/s at 1M users on SQLite).
      const keys = ordered(db.selectFrom(table).select(keyColumns).where(matching), table);
      return joined(
        db,
        keys
          .limit(values.take as number)
          .offset(values.skip as number)
          .as('page'),
      );
    }
    // The first page, a cursor's, or (Dialect.defersFilteredPages) a filtered offset page on SQLite.
    const plain = ordered(db.selectFrom(table).select(columns).where(matching), table).limit(values.take as number);
    return paging.skip > 0 ? plain.offset(values.skip as number) : plain;
  }

  /**
   * This dialect's template of a write of the table, compiled by `build` on first use with `placeholder(0..count-1)`
   * for its values; undefined when the compiled statement does not carry each placeholder as a parameter (then the
   * caller builds the statement per call), or when the table already holds WRITE_TEMPLATES of them.
   */
  private writeTemplate(key: string, build: () => { compiled: CompiledQuery; count: number }): Template | undefined {
    let template = this.writes.get(key);
    if (template === undefined) {
      // The one INSERT always has its place: only the UPDATE column sets, which vary, fill the table's quota.
      if (key !== 'insert' && this.writes.size >= WRITE_TEMPLATES) return undefined;
      const { compiled, count } = build();
      template = templateOf(
        compiled,
        Array.from({ length: count }, (_, i) => i),
      );
      this.writes.set(key, template);
    }
    return template ?? undefined;
  }

  /**
   * Runs a compiled statement through Kysely (observers, timeout, plugins as for any query); its rows. Kysely calls
   * plugins' transformQuery only while compiling, so a template, compiled once, would otherwise pass plugins by
   * from its second run on: the replicas' WriteMarker (replication/consistency.ts) would not see the write, and
   * the request's next reads would go to a lagging replica. The template already holds what a plugin changes in
   * the statement (it was compiled through them); this call is for what plugins observe.
   */
  private async run(query: CompiledQuery): Promise<Record<string, unknown>[]> {
    this.db.getExecutor().transformQuery(query.query, query.queryId);
    return (await this.db.executeQuery<Record<string, unknown>>(query)).rows;
  }

  async count(filters: Filters<Visible<Row, Secret>> = {}, options: { atMost?: number } = {}): Promise<number> {
    const { atMost } = options;
    if (atMost !== undefined && (!Number.isInteger(atMost) || atMost < 1)) {
      throw new InvalidQueryError('atMost must be a positive integer');
    }
    filters = await this.guard(() => this.planSearch(filters));
    const row = await this.guard(() => {
      if (atMost === undefined) {
        return this.db
          .selectFrom(this.info.name)
          .select((eb) => eb.fn.countAll().as('n'))
          .where((eb) => this.where(eb, filters))
          .executeTakeFirstOrThrow();
      }
      // Counting over a LIMIT-ed subquery stops reading after `atMost` matches.
      const matches = this.db
        .selectFrom(this.info.name)
        .select(sql`1`.as('x'))
        .where((eb) => this.where(eb, filters))
        .limit(atMost)
        .as('matches');
      return this.db
        .selectFrom(matches)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
    });
    // node-postgres returns COUNT(*) as a string, the others as a number.
    return Number(row.n);
  }

  async update(id: string, patch: RowPatch<Row>): Promise<Visible<Row, Secret> | undefined> {
    const values = preparePatch(this.info, patch as object, new Date().toISOString());
    if (Object.keys(values).length === 0) return this.get(id);
    const keys = Object.keys(values);
    const returning = this.dialect.updateReturning ? this.info.visible : undefined;
    // The UPDATE of these columns by primary key (returning the row where the dialect can), compiled once per
    // column list: only the values differ from call to call.
    const update = this.writeTemplate(`update\0${keys.join('\0')}`, () => {
      const set = Object.fromEntries(keys.map((k, i) => [k, placeholder(i)]));
      const query = this.db.updateTable(this.info.name).set(set).where(this.info.pk, '=', placeholder(keys.length));
      return { compiled: (returning ? query.returning(returning) : query).compile(), count: keys.length + 1 };
    });
    const parameters = [...keys.map((k) => this.encode(k, values[k])), id];
    const run = update
      ? () => this.run(bind(update, parameters))
      : () => {
          const query = this.db.updateTable(this.info.name).set(this.encodeRow(values)).where(this.info.pk, '=', id);
          return (returning ? query.returning(returning) : query).execute() as Promise<Record<string, unknown>[]>;
        };
    const rows = await this.guard(run);
    if (returning) {
      // The row as this UPDATE left it, in the same statement: no second round trip.
      const [row] = rows;
      return row ? this.decodeRow(row, returning) : undefined;
    }
    return this.get(id);
  }

  /**
   * One UPDATE, so the database's row locking makes it a compare-and-set. The count is the rows MATCHED on
   * every database: SQLite and PostgreSQL report those; MySQL/MariaDB report changed rows unless the client
   * connects with CLIENT_FOUND_ROWS, which mysql2 sets by default and the mysql dialect pins (see its
   * createPool), rather than relying on the updated-at stamp to change every row: a table may have no stamp,
   * and two writes within the same millisecond leave a DATETIME(3) unchanged.
   */
  async updateWhere(filters: Filters<Visible<Row, Secret>>, patch: RowPatch<Row>): Promise<number> {
    assertBulkFilters(this.info, filters, 'updateWhere');
    const values = preparePatch(this.info, patch as object, new Date().toISOString());
    // Nothing to write (an empty patch on a table without an updated-at stamp): the matches are the answer.
    if (Object.keys(values).length === 0) return this.count(filters);
    const result = await this.guard(() =>
      this.db
        .updateTable(this.info.name)
        .set(this.encodeRow(values))
        .where((eb) => this.where(eb, filters))
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows);
  }

  /**
   * SELECT the candidates (locked by the dialect where it can), then UPDATE each one compare-and-set, then
   * read the claimed rows back as `update` does. One UPDATE per row, not one for all: its matched count tells
   * exactly which rows this caller got, without RETURNING (which MySQL/MariaDB lack for UPDATE).
   */
  async claim(options: ClaimOptions<Row, Secret>): Promise<Visible<Row, Secret>[]> {
    const { filters, patch } = options;
    assertBulkFilters(this.info, filters, 'claim');
    const { column, direction, nullable, limit } = resolvePaging(this.info, options, this.cursors);
    if (!Object.values(patch).some((v) => v !== undefined)) {
      throw new InvalidQueryError('claim needs a patch that marks the rows it claims');
    }
    const values = this.encodeRow(preparePatch(this.info, patch as object, new Date().toISOString()));
    const { pk } = this.info;
    const columns = this.info.visible;
    const run = async (db: Kysely<any>): Promise<Visible<Row, Secret>[]> => {
      let query = db
        .selectFrom(this.info.name)
        .select(pk)
        .where((eb) => this.where(eb, filters));
      if (nullable) query = query.orderBy(sql`(${sql.ref(column)} is null)`, 'asc');
      query = query.orderBy(column, direction);
      if (column !== pk) query = query.orderBy(pk, direction);
      const candidates = await this.dialect.lockForClaim(query.limit(limit)).execute();
      const claimed: string[] = [];
      for (const candidate of candidates) {
        const id = String(candidate[pk]);
        const result = await db
          .updateTable(this.info.name)
          .set(values)
          .where((eb) => eb.and([eb(eb.ref(pk), '=', id), this.where(eb, filters)]))
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) === 1) claimed.push(id);
      }
      if (claimed.length === 0) return [];
      const rows = await db.selectFrom(this.info.name).select(columns).where(pk, 'in', claimed).execute();
      const byId = new Map(rows.map((r) => [String(r[pk]), r]));
      return claimed.map((id) => this.decodeRow<Visible<Row, Secret>>(byId.get(id) ?? {}, columns));
    };
    // Candidates stay locked, and the compare-and-set holds, only until the transaction ends: a unit of work's
    // own, which the caller may keep open while sending, or one just for this claim.
    return this.guard(() => (this.db.isTransaction ? run(this.db) : this.db.transaction().execute(run)));
  }

  async deleteWhere(filters: Filters<Visible<Row, Secret>>): Promise<number> {
    assertBulkFilters(this.info, filters, 'deleteWhere');
    const result = await this.guard(() =>
      this.db
        .deleteFrom(this.info.name)
        .where((eb) => this.where(eb, filters))
        .executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.guard(() =>
      this.db.deleteFrom(this.info.name).where(this.info.pk, '=', id).executeTakeFirst(),
    );
    return Number(result.numDeletedRows) > 0;
  }

  async exists(id: string): Promise<boolean> {
    const { pk } = this.info;
    if (isLookupValue(id)) {
      return (await this.lookupRows(this.compiledLookup(pk, [pk], EXISTS), [this.encode(pk, id)])).length > 0;
    }
    const row = await this.guard(() =>
      this.db
        .selectFrom(this.info.name)
        .select(sql`1`.as('x'))
        .where(this.info.pk, '=', id)
        .limit(1)
        .executeTakeFirst(),
    );
    return row !== undefined;
  }

  /**
   * The hot lookups (by id, by email, by username) are equality on a few columns. Their SQL differs only in
   * the values, so it is compiled once per dialect, table, filter columns and selection, and reused with new
   * parameters, instead of building and compiling a Kysely query on every request. Secret columns only reach
   * here once assertFilterColumns has let them through (named by the read, compared with a value).
   */
  private equalityLookup(
    filters: Filters<any>,
    selected: readonly string[],
  ): { compiled: CompiledLookup; values: unknown[] } | undefined {
    const columns = Object.keys(filters);
    const values: unknown[] = [];
    for (const column of columns) {
      const value = (filters as Record<string, unknown>)[column];
      if (!isLookupValue(value) || !this.info.types.has(column)) return undefined;
      values.push(this.encode(column, value));
    }
    const key = columns.length === 1 ? (columns[0] as string) : columns.join('\0');
    return { compiled: this.compiledLookup(key, columns, selected), values };
  }

  /** `select <selected> from <table> where <columns> = ? ... limit 1`, compiled once (see equalityLookup). */
  private compiledLookup(key: string, columns: readonly string[], selected: readonly string[]): CompiledLookup {
    let bySelection = this.lookups.get(key);
    if (!bySelection) {
      bySelection = new Map();
      this.lookups.set(key, bySelection);
    }
    let lookup = bySelection.get(selected);
    if (!lookup) {
      const from = this.db.selectFrom(this.info.name);
      const query: SelectQueryBuilder<any, any, any> =
        selected === EXISTS ? from.select(sql`1`.as('x')) : from.select(selected);
      const compiled = query
        .where((eb) => eb.and(columns.map((c) => eb(eb.ref(c), '=', null as never))))
        .limit(1)
        .compile();
      lookup = { sql: compiled.sql, query: compiled.query, tail: compiled.parameters.slice(columns.length) };
      bySelection.set(selected, lookup);
    }
    return lookup;
  }

  /** The first row a compiled lookup finds, decoded; driver errors come out as DataErrors (as `guard` does). */
  private async lookupRow<Out>(
    lookup: CompiledLookup,
    values: unknown[],
    columns: readonly string[],
  ): Promise<Out | undefined> {
    const [row] = await this.lookupRows(lookup, values);
    return row ? (rowDecoder(this.info.types, columns)(row) as Out) : undefined;
  }

  private async lookupRows(lookup: CompiledLookup, values: unknown[]): Promise<Record<string, unknown>[]> {
    // The compiled SELECT's node is kept (not a raw node) so query observers see a select on this table.
    const query: CompiledQuery = {
      sql: lookup.sql,
      query: lookup.query,
      parameters: lookup.tail.length ? [...values, ...lookup.tail] : values,
      queryId: createQueryId(),
    };
    try {
      return (await this.db.executeQuery<Record<string, unknown>>(query)).rows;
    } catch (error) {
      throw this.dataError(error);
    }
  }

  /**
   * `filters` with each `contains` that the column's substring index should serve marked SERVED, where the
   * dialect decides that per term before the query is built (SQLite: only a rare term; see
   * Dialect.substringIndexServes). Elsewhere, and for the other calls, the filters as they are.
   */
  private async planSearch<F extends Filters<any> | undefined>(filters: F): Promise<F> {
    const serves = this.dialect.substringIndexServes?.bind(this.dialect);
    if (!filters || !serves || this.substringIndexes.size === 0) return filters;
    // Also says whether a `contains` on an indexed column was left to the scan (a common term, or one the index
    // cannot look up).
    const plan = async (f: Filters<any>): Promise<{ filters: Filters<any>; scanned: boolean }> => {
      const out: Record<string, unknown> = {};
      let scanned = false;
      for (const [key, condition] of Object.entries(f)) {
        const index = this.substringIndexes.get(key);
        const term = (condition as { contains?: unknown } | null)?.contains;
        if (key === '$or' && Array.isArray(condition)) {
          // One branch left to the scan makes the scan in key order meet matches as often as that branch
          // does, so serving the others buys nothing and costs their index reads (on PostgreSQL at 10M users,
          // a branch of 1-2k matches collected for a search whose page the common branch filled): then none
          // is served, and the branches after it are not asked about.
          const branches: Filters<any>[] = [];
          let anyScanned = false;
          for (const branch of condition as Filters<any>[]) {
            const planned = await plan(branch);
            if (planned.scanned) {
              anyScanned = true;
              break;
            }
            branches.push(planned.filters);
          }
          out[key] = anyScanned ? condition : branches;
          scanned ||= anyScanned;
        } else if (index && typeof term === 'string') {
          const served = await serves(this.db, index, term, this.info.name, key, containsPattern(term));
          out[key] = served ? { ...(condition as object), [SERVED]: true } : condition;
          scanned ||= !served;
        } else {
          out[key] = condition;
        }
      }
      return { filters: out, scanned };
    };
    return (await plan(filters)).filters as F;
  }

  /** `asked`: the secret columns a lookup may match by equality; `$or` branches never get them. */
  private where(eb: Eb, filters: Filters<any>, asked: readonly string[] = []): Expression<SqlBool> {
    const parts: Expression<SqlBool>[] = [];
    for (const [key, condition] of Object.entries(filters)) {
      if (condition === undefined) continue;
      if (key === '$or') {
        const branches = condition as Filters<any>[];
        parts.push(branches.length ? eb.or(branches.map((f) => this.where(eb, f))) : sql<SqlBool>`1 = 0`);
        continue;
      }
      assertFilterColumn(this.info, key, condition, asked);
      parts.push(this.condition(eb, key, condition as Condition<unknown>));
    }
    return eb.and(parts);
  }

  private condition(eb: Eb, column: string, condition: Condition<unknown>): Expression<SqlBool> {
    const ref = eb.ref(column);
    if (condition === null) return eb(ref, 'is', null);
    if (typeof condition !== 'object' || Array.isArray(condition)) return eb(ref, '=', this.encode(column, condition));
    const parts: Expression<SqlBool>[] = [];
    for (const [op, value] of Object.entries(condition)) {
      if (value === undefined) continue;
      if (!OPERATORS.has(op)) throw new InvalidQueryError(`Unknown filter operator "${op}" on ${column}`);
      if (op === 'isNull') parts.push(eb(ref, value ? 'is' : 'is not', null));
      else if (op === 'in') {
        const list = value as unknown[];
        parts.push(
          list.length
            ? eb(
                ref,
                'in',
                list.map((v) => this.encode(column, v)),
              )
            : sql<SqlBool>`1 = 0`,
        );
      } else if (op === 'contains') {
        if (typeof value !== 'string') throw new InvalidQueryError(`contains on ${column} needs a string`);
        const pattern = containsPattern(value);
        const index = (condition as Record<symbol, unknown>)[SERVED] ? this.substringIndexes.get(column) : undefined;
        parts.push(
          this.dialect.containsCondition?.(this.info.name, column, pattern, value, index) ??
            sql<SqlBool>`lower(${ref}) like ${pattern} escape '!'`,
        );
      } else {
        parts.push(eb(ref, COMPARISONS[op as keyof typeof COMPARISONS], this.encode(column, value)));
      }
    }
    return eb.and(parts);
  }

  private encode(column: string, value: unknown): unknown {
    if (value === null || value === undefined) return null;
    switch (this.info.types.get(column)) {
      case 'boolean':
        return this.dialect.encodeBoolean(Boolean(value));
      case 'timestamp': {
        const date = new Date(value as string);
        if (Number.isNaN(date.getTime())) throw new InvalidQueryError(`${column} needs an ISO-8601 timestamp`);
        return this.dialect.encodeTimestamp(date.toISOString());
      }
      default:
        return value;
    }
  }

  private encodeRow(row: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(row)) out[key] = this.encode(key, row[key]);
    return out;
  }

  private decodeRow<Out>(raw: Record<string, unknown>, columns: readonly string[]): Out {
    return rowDecoder(this.info.types, columns)(raw) as Out;
  }

  /** Runs a statement, turning driver errors into the data layer's own. */
  private async guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.dataError(error);
    }
  }

  /** A driver error as the data layer's own (a DataError passes through; one not classified stays as it is). */
  private dataError(error: unknown): unknown {
    if (error instanceof DataError) return error;
    const mapped = this.dialect.mapError(error);
    return mapped ? completeUniqueViolation(this.info, mapped) : error;
  }
}

/** A value an equality lookup can bind: not null, undefined, an operator object or a list (those take `where`). */
function isLookupValue(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== 'object';
}
