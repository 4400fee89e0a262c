import { type DataStore, type Filters, type RepositoryProvider, UniqueViolationError } from '@user-service/data';
import type { PasswordHasher } from '../auth/password-hasher.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { PersonaCreate } from '../personas/persona.schemas.js';
import { personasTable } from '../personas/persona.table.js';
import { CountCache } from '../shared/count-cache.js';
import { SORTABLE } from './user.schemas.js';
import type { UserRow } from './user.table.js';
import { usersTable } from './user.table.js';

/** A user as the outside world sees it: everything but the password hash. */
export type User = Omit<UserRow, 'hashed_password'>;

export interface NewUser {
  email: string;
  password: string;
  full_name?: string | null;
  username?: string | null;
  personas?: PersonaCreate[];
  is_superuser?: boolean;
}

export interface UserChanges {
  email?: string;
  password?: string;
  full_name?: string | null;
  username?: string | null;
}

export interface UserListOptions {
  skip: number;
  limit: number;
  after?: string;
  activeOnly?: boolean;
  isSuperuser?: boolean;
  createdAfter?: string;
  createdBefore?: string;
  sort?: { column: keyof UserRow & string; direction: 'asc' | 'desc' };
}

export interface UserPage {
  users: User[];
  total: number;
  /** Set by search when `total` reached SEARCH_TOTAL_LIMIT: there are at least that many matches. */
  total_capped?: boolean;
  skip: number;
  limit: number;
  next_cursor: string | null;
}

/**
 * Search counts its matches up to this many. A broad term on a large table matches tens of thousands of rows,
 * and counting them all cost far more than finding the page (PostgreSQL, 1M users, "mart": 181 ms to count
 * all 33k matches, 51 ms to count the first 1000, 0.8 ms for the page of 20).
 */
export const SEARCH_TOTAL_LIMIT = 100;

/** Emails compare without regard to case: one normalised form is stored and looked up. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();
export const normalizeUsername = (username: string) => username.trim().toLowerCase();

export function toUser(row: UserRow): User {
  const { hashed_password: _hidden, ...user } = row;
  return user;
}

/** Turns a unique violation into a conflict that names what is taken. */
export function conflictFrom(error: unknown): never {
  if (error instanceof UniqueViolationError) {
    if (error.columns.includes('email')) throw new ConflictError('A user with this email already exists');
    if (error.columns.includes('username')) throw new ConflictError('A user with this username already exists');
    if (error.columns.includes('name_key')) throw new ConflictError('This user already has a persona with this name');
  }
  throw error;
}

export class UserService {
  private readonly totals: CountCache;

  /** `totalsTtlMs`: how old a list's `total` may be (see CountCache); 0 counts on every request. */
  constructor(
    private readonly store: DataStore,
    private readonly hasher: PasswordHasher,
    totalsTtlMs = 0,
  ) {
    this.totals = new CountCache(totalsTtlMs);
  }

  /** Creates the user and its initial personas in one unit of work: all of them or nothing. */
  async create(input: NewUser): Promise<User> {
    // Hash before the transaction opens, so no connection or lock is held during the slow part.
    const hashed_password = await this.hasher.hash(input.password);
    const row = await this.store
      .unitOfWork(async (uow) => {
        const user = await uow.repository(usersTable).create({
          email: normalizeEmail(input.email),
          username: input.username ? normalizeUsername(input.username) : null,
          full_name: input.full_name ?? null,
          hashed_password,
          is_superuser: input.is_superuser ?? false,
        });
        if (input.personas?.length) {
          await uow.repository(personasTable).createMany(
            input.personas.map((p) => ({
              user_id: user.id,
              name: p.name,
              description: p.description ?? null,
              relation_type: p.relation_type,
              ...(p.status ? { status: p.status } : {}),
            })),
          );
        }
        return user;
      })
      .catch(conflictFrom);
    this.totals.clear();
    return toUser(row);
  }

  async get(id: string, store: RepositoryProvider = this.store): Promise<User> {
    const row = await store.repository(usersTable).get(id);
    if (!row) throw new NotFoundError('User not found');
    return toUser(row);
  }

  async getByEmail(email: string): Promise<User> {
    return toUser(await this.findRowBy({ email: normalizeEmail(email) }));
  }

  async getByUsername(username: string): Promise<User> {
    return toUser(await this.findRowBy({ username: normalizeUsername(username) }));
  }

  /** The full row including the hash, for authentication only. */
  async findRowBy(filters: Filters<UserRow>): Promise<UserRow> {
    const row = await this.store.repository(usersTable).getBy(filters);
    if (!row) throw new NotFoundError('User not found');
    return row;
  }

  async list(options: UserListOptions): Promise<UserPage> {
    const filters: Filters<UserRow> = {};
    if (options.activeOnly) filters.is_active = true;
    if (options.isSuperuser !== undefined) filters.is_superuser = options.isSuperuser;
    if (options.createdAfter || options.createdBefore) {
      filters.created_at = {
        ...(options.createdAfter ? { gt: options.createdAfter } : {}),
        ...(options.createdBefore ? { lt: options.createdBefore } : {}),
      };
    }
    return this.page(filters, options);
  }

  /** Users whose full name, username or email contains `q`, without regard to case; wildcards are literal. */
  async search(q: string, skip: number, limit: number): Promise<UserPage> {
    const term = q.trim();
    const filters: Filters<UserRow> = {
      $or: [{ full_name: { contains: term } }, { username: { contains: term } }, { email: { contains: term } }],
    };
    const page = await this.page(filters, { skip, limit }, SEARCH_TOTAL_LIMIT);
    return { ...page, total_capped: page.total >= SEARCH_TOTAL_LIMIT };
  }

  private async page(
    filters: Filters<UserRow>,
    options: Pick<UserListOptions, 'skip' | 'limit' | 'after' | 'sort'>,
    countAtMost?: number,
  ): Promise<UserPage> {
    const repo = this.store.repository(usersTable);
    const [page, total] = await Promise.all([
      repo.list({
        filters,
        skip: options.skip,
        limit: options.limit,
        ...(options.after ? { after: options.after } : {}),
        ...(options.sort && !options.after ? { orderBy: options.sort } : {}),
        // The same whitelist as the `sort` parameter holds for the column a cursor carries.
        sortable: SORTABLE,
      }),
      this.totals.get(JSON.stringify(filters), () => repo.count(filters, countAtMost ? { atMost: countAtMost } : {})),
    ]);
    return {
      users: page.items.map(toUser),
      total,
      skip: options.skip,
      limit: options.limit,
      next_cursor: page.nextCursor,
    };
  }

  async update(id: string, changes: UserChanges): Promise<User> {
    const patch: Partial<UserRow> = {};
    if (changes.email !== undefined) patch.email = normalizeEmail(changes.email);
    if (changes.username !== undefined) patch.username = changes.username ? normalizeUsername(changes.username) : null;
    if (changes.full_name !== undefined) patch.full_name = changes.full_name;
    if (changes.password !== undefined) patch.hashed_password = await this.hasher.hash(changes.password);
    const row = await this.store.repository(usersTable).update(id, patch).catch(conflictFrom);
    if (!row) throw new NotFoundError('User not found');
    return toUser(row);
  }

  async setActive(id: string, isActive: boolean): Promise<User> {
    const row = await this.store.repository(usersTable).update(id, { is_active: isActive });
    this.totals.clear();
    if (!row) throw new NotFoundError('User not found');
    return toUser(row);
  }

  /** Deletes the user; its personas go with it (ON DELETE CASCADE on every database). */
  async delete(id: string): Promise<void> {
    const deleted = await this.store.repository(usersTable).delete(id);
    this.totals.clear();
    if (!deleted) throw new NotFoundError('User not found');
  }

  async count(activeOnly: boolean): Promise<number> {
    const filters: Filters<UserRow> = activeOnly ? { is_active: true } : {};
    return this.totals.get(JSON.stringify(filters), () => this.store.repository(usersTable).count(filters));
  }

  async exists(id: string): Promise<boolean> {
    return this.store.repository(usersTable).exists(id);
  }

  /** Stores a stronger hash computed after a successful verification (bcrypt or old argon2 parameters). */
  async replaceHash(id: string, hashed_password: string): Promise<void> {
    await this.store.repository(usersTable).update(id, { hashed_password });
  }
}
