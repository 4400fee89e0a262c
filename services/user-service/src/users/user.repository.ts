/**
 * The queries users need, named, on the generic repository: the only code that reaches the `users` table.
 * Built over whatever executor the caller hands in (the database, or a unit of work's transaction), as the
 * Kysely example's repositories take theirs; it never commits. Rows come back without the password hash
 * (the data layer leaves secret columns out); only the methods named for credentials read it.
 */
import type { Filters, NewRow, Page, RepositoryProvider, RowPatch, Visible } from '@user-service/data';
import { type PageWithTotal, pageThenTotal, pageWithTotal } from '../shared/page-with-total.js';
import { type UserOptional, type UserRow, usersTable } from './user.table.js';

/** A user as everything outside the credentials paths sees it: every column but the password hash. */
export type User = Visible<UserRow, 'hashed_password'>;
/** A user with the password hash, for login, the token check, a password change and the export. */
export type UserCredentials = UserRow;
export type NewUserRow = NewRow<UserRow, UserOptional>;

/** A lookup by one unique key, each already normalised by the service. */
export type UserKey = { id: string } | { email: string } | { username: string };

export interface UserQuery {
  filters: Filters<User>;
  skip: number;
  limit: number;
  after?: string;
  sort?: { column: keyof User & string; direction: 'asc' | 'desc' };
  /** The columns `sort` and a cursor may name (the endpoint's whitelist). */
  sortable: readonly string[];
}

/** Users whose full name, username or email contains `term`, without regard to case; wildcards are literal. */
export function searchFilters(term: string): Filters<User> {
  return {
    $or: [{ full_name: { contains: term } }, { username: { contains: term } }, { email: { contains: term } }],
  };
}

const HASH = { secrets: ['hashed_password'] } as const;

export class UserRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get table() {
    return this.store.repository(usersTable);
  }

  create(row: NewUserRow): Promise<User> {
    return this.table.create(row);
  }

  /** Inserts complete rows (an import batch, seed data) in as few statements as the driver allows. */
  insertMany(rows: readonly NewUserRow[]): Promise<User[]> {
    return this.table.createMany(rows);
  }

  get(id: string): Promise<User | undefined> {
    return this.table.get(id);
  }

  getBy(key: UserKey): Promise<User | undefined> {
    return this.table.getBy(key);
  }

  /** The user with the password hash, by id, email or username: for the credentials paths only. */
  credentials(key: UserKey): Promise<UserCredentials | undefined> {
    return this.table.getBy(key, HASH);
  }

  /**
   * A page of users and how many match. `total` may come from a cache (the service's CountCache); with
   * `countAtMost`, counting stops there.
   */
  page(
    query: UserQuery,
    total: (count: () => Promise<number>) => Promise<number> = (count) => count(),
    countAtMost?: number,
  ): Promise<PageWithTotal<User>> {
    const count = () => total(() => this.table.count(query.filters, countAtMost ? { atMost: countAtMost } : {}));
    // A capped count is a search's (offset pages only: after a cursor, skip says nothing of the rows before).
    if (countAtMost && !query.after) return pageThenTotal(this.list(query), count, query, countAtMost);
    return pageWithTotal(this.list(query), count(), query);
  }

  /** A page of users without the total (a cursor walk), with the cursors a page with total would carry. */
  list(query: UserQuery): Promise<Page<User>> {
    const { filters, skip, limit, after, sort, sortable } = query;
    return this.table.list({
      filters,
      skip,
      limit,
      ...(after ? { after } : {}),
      // With a cursor too: the data layer refuses a sort other than the cursor's (a 422), never silently ignores it.
      ...(sort ? { orderBy: sort } : {}),
      sortable,
    });
  }

  count(filters: Filters<User> = {}): Promise<number> {
    return this.table.count(filters);
  }

  update(id: string, patch: RowPatch<UserRow>): Promise<User | undefined> {
    return this.table.update(id, patch);
  }

  delete(id: string): Promise<boolean> {
    return this.table.delete(id);
  }

  exists(id: string): Promise<boolean> {
    return this.table.exists(id);
  }

  /**
   * Every user, password hash included, a page at a time in primary-key order (keyset cursors, so memory
   * stays flat whatever the table's size): the export's stream.
   */
  async *transferPages(pageSize: number): AsyncGenerator<UserCredentials[]> {
    let after: string | undefined;
    do {
      const page: Page<UserCredentials> = await this.table.list({ limit: pageSize, ...(after ? { after } : {}) }, HASH);
      yield page.items;
      after = page.nextCursor ?? undefined;
    } while (after);
  }

  /** Which of these ids, emails and usernames are taken (an import's dry run): one query. */
  async taken(keys: { ids: readonly string[]; emails: readonly string[]; usernames: readonly string[] }) {
    const $or: Filters<User>[] = [{ email: { in: keys.emails } }];
    if (keys.usernames.length > 0) $or.push({ username: { in: keys.usernames } });
    if (keys.ids.length > 0) $or.push({ id: { in: keys.ids } });
    const limit = keys.emails.length + keys.usernames.length + keys.ids.length;
    const page = await this.table.list({ filters: { $or }, limit: Math.max(1, limit) });
    return {
      id: new Set<string | null>(page.items.map((u) => u.id)),
      email: new Set<string | null>(page.items.map((u) => u.email)),
      username: new Set<string | null>(page.items.map((u) => u.username)),
    };
  }
}
