import type { DataStore, Filters, RepositoryProvider, RowPatch } from '@user-service/data';
import { type AuditContext, type AuditEventName, recordAudit } from '../audit/audit-events.js';
import type { UserCache } from '../cache/user-cache.js';
import { ConflictError, conflictOn, InvalidInputError, NotFoundError } from '../errors.js';
import { PERSONA_CONFLICTS, PersonaRepository, personaRow } from '../personas/persona.repository.js';
import type { PersonaCreate } from '../personas/persona.schemas.js';
import { SessionRepository } from '../sessions/session.repository.js';
import { CountCache } from '../shared/count-cache.js';
import { assertAcceptablePassword } from './password-rules.js';
import { searchFilters, type User, type UserCredentials, type UserKey, UserRepository } from './user.repository.js';
import { SORTABLE } from './user.schemas.js';
import type { UserRow } from './user.table.js';

export type { User, UserCredentials } from './user.repository.js';

/** What users need of a password hasher (handed in, so users import nothing from auth). */
export interface PasswordHashing {
  hash(password: string): Promise<string>;
}

export interface NewUser {
  email: string;
  password: string;
  full_name?: string | null;
  username?: string | null;
  personas?: PersonaCreate[];
  is_superuser?: boolean;
  /** The address is known to be the user's (an operator said so): verified now, no verification mail. */
  is_verified?: boolean;
}

export interface UserChanges {
  email?: string;
  password?: string;
  full_name?: string | null;
  username?: string | null;
  /** Superusers only (the policy and the admin schema decide who may send these). */
  is_active?: boolean;
  is_superuser?: boolean;
  /** Superusers only: true marks the email verified now, false clears it. */
  is_verified?: boolean;
}

/** How a change was asked for, besides what changes. */
export interface UpdateOptions {
  /** The session of a user changing their own password: it stays, their others end. */
  keepSession?: string;
  /** Who and where, for the audit log. */
  context?: AuditContext | undefined;
  /** The new password comes from a reset link (recorded as `password.reset`, not `password.changed`). */
  passwordReset?: boolean;
  /**
   * Runs in the change's unit of work, before the change is recorded; what it throws rolls the change back
   * (a reset spends its token here, so two resets with one token cannot both change the password).
   */
  within?: (uow: RepositoryProvider, user: User) => Promise<void>;
}

/**
 * What happens alongside a user change, inside its unit of work (account tokens and their mails, in
 * auth/account.service.ts): committed with the change or not at all.
 */
export interface UserLifecycle {
  /** The user was created (`registered`: through POST /auth/register). */
  created(uow: RepositoryProvider, user: User, context: AuditContext | undefined): Promise<void>;
  /** The email changed (verification already cleared). */
  emailChanged(uow: RepositoryProvider, user: User, context: AuditContext | undefined): Promise<void>;
  /** The password changed, whichever way: tokens still out are void. */
  passwordChanged(uow: RepositoryProvider, userId: string): Promise<void>;
  /** The unit of work of a creation or an update committed (what the steps above queued can go now). */
  committed(): void;
}

export interface UserListOptions {
  skip: number;
  limit: number;
  after?: string;
  /** A search term, matched as search() matches it; blank (only spaces) is no term. */
  q?: string;
  activeOnly?: boolean;
  isActive?: boolean;
  isSuperuser?: boolean;
  isVerified?: boolean;
  createdAfter?: string;
  createdBefore?: string;
  sort?: { column: keyof User & string; direction: 'asc' | 'desc' };
}

export interface UserPage {
  users: User[];
  total: number;
  /** Set by a search (or a list with `q`): true when `total` reached SEARCH_TOTAL_LIMIT, at least that many match. */
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

/** What the API's unique constraints on users mean to a client, by column, checked in this order. */
export const USER_CONFLICTS = {
  email: 'A user with this email already exists',
  username: 'A user with this username already exists',
} as const;

export class UserService {
  private readonly totals: CountCache;
  private readonly users: UserRepository;
  /** Lookups, lists and counts that may lag behind the last write (a read replica; see `reads` below). */
  private readonly reader: UserRepository;
  private lifecycle: UserLifecycle | undefined;
  /** The Redis user cache (REDIS_URL with CACHE_TTL_MS > 0), or undefined: every lookup reads the database. */
  private cache: UserCache | undefined;

  /**
   * `totalsTtlMs`: how long a list's `total` is fresh (see CountCache); 0 counts on every request. `reads`: the
   * store for lookups, lists and counts that tolerate lag (Database.eventual: a read replica that shows the
   * client's own writes); credentials, the access check's lookup and everything inside a change use `store`.
   */
  constructor(
    private readonly store: DataStore,
    private readonly hasher: PasswordHashing,
    totalsTtlMs = 0,
    reads: DataStore = store,
  ) {
    this.totals = new CountCache(totalsTtlMs);
    this.users = new UserRepository(store);
    this.reader = new UserRepository(reads);
  }

  /**
   * Set once by the app when the Redis cache is on: lookups by id, email and username read it first (a miss
   * reads the primary, not a replica, see cache/user-cache.ts), and every change to a user row tombstones the
   * user's keys, and the sessions it ends, before it is acknowledged.
   */
  setCache(cache: UserCache | undefined): void {
    this.cache = cache;
  }

  /** Set once by the app: what else a creation, an email change or a password change sets in motion. */
  setLifecycle(lifecycle: UserLifecycle): void {
    this.lifecycle = lifecycle;
  }

  /**
   * Creates the user and its initial personas in one unit of work: all of them or nothing, with the audit event
   * (`user.registered` when `registered`, else `user.created`) and what the lifecycle adds (the first
   * verification mail).
   */
  async create(
    input: NewUser,
    options: { context?: AuditContext | undefined; registered?: boolean } = {},
  ): Promise<User> {
    // Hash before the transaction opens, so no connection or lock is held during the slow part.
    assertAcceptablePassword(input.password, ['body', 'password']);
    const hashed_password = await this.hasher.hash(input.password);
    const user = await this.store
      .unitOfWork(async (uow) => {
        const created = await new UserRepository(uow).create({
          email: normalizeEmail(input.email),
          username: input.username ? normalizeUsername(input.username) : null,
          full_name: input.full_name ?? null,
          hashed_password,
          is_superuser: input.is_superuser ?? false,
          ...(input.is_verified ? { is_verified: true, verified_at: new Date().toISOString() } : {}),
        });
        if (input.personas?.length) {
          await new PersonaRepository(uow).insertMany(input.personas.map((p) => personaRow(created.id, p)));
        }
        await recordAudit(uow, options.context, {
          event: options.registered ? 'user.registered' : 'user.created',
          target: created.id,
          ...(created.is_superuser ? { detail: { is_superuser: true } } : {}),
        });
        await this.lifecycle?.created(uow, created, options.context);
        return created;
      })
      .catch((error: unknown) => conflictOn(error, { ...USER_CONFLICTS, ...PERSONA_CONFLICTS }));
    this.lifecycle?.committed();
    this.totals.clear();
    return user;
  }

  async get(id: string, store?: RepositoryProvider): Promise<User> {
    const user = store
      ? await new UserRepository(store).get(id)
      : this.cache
        ? await this.cache.user('id', id, () => this.users.get(id))
        : await this.reader.get(id);
    if (!user) throw new NotFoundError('User not found');
    return user;
  }

  /** The user with this id, or undefined (the access check's lookup, on every authenticated request). */
  find(id: string): Promise<User | undefined> {
    if (this.cache) return this.cache.user('id', id, () => this.users.get(id));
    return this.users.get(id);
  }

  async getByEmail(email: string): Promise<User> {
    const key = { email: normalizeEmail(email) };
    if (this.cache) return this.found(await this.cache.user('email', key.email, () => this.users.getBy(key)));
    return this.found(await this.reader.getBy(key));
  }

  async getByUsername(username: string): Promise<User> {
    const key = { username: normalizeUsername(username) };
    if (this.cache) return this.found(await this.cache.user('username', key.username, () => this.users.getBy(key)));
    return this.found(await this.reader.getBy(key));
  }

  /** Tombstones the cached entries of a user changed outside this service's methods (a verified email). */
  async forget(...users: (User | undefined)[]): Promise<void> {
    await this.cache?.invalidate(users);
  }

  /**
   * The user with the password hash, for the credentials paths only (login, the token check, a password
   * change); undefined when there is none. Emails and usernames are normalised here, as everywhere.
   */
  async credentials(key: UserKey): Promise<UserCredentials | undefined> {
    if ('email' in key) return this.users.credentials({ email: normalizeEmail(key.email) });
    if ('username' in key) return this.users.credentials({ username: normalizeUsername(key.username) });
    return this.users.credentials(key);
  }

  private found(user: User | undefined): User {
    if (!user) throw new NotFoundError('User not found');
    return user;
  }

  /**
   * A page of users matching every filter given. With a term (`q`), the page is a search's: the same match as
   * search(), and `total` counted only up to SEARCH_TOTAL_LIMIT, for the same reason; the term is part of the
   * filters, so a cursor issued for one term is refused for another.
   */
  async list(options: UserListOptions): Promise<UserPage> {
    if (options.activeOnly && options.isActive === false) {
      // Nothing could match: say so rather than answer an empty page the caller might take for a real answer.
      throw new InvalidInputError(['query', 'is_active'], 'is_active=false contradicts active_only=true');
    }
    const term = options.q?.trim();
    const filters: Filters<User> = term ? searchFilters(term) : {};
    const isActive = options.activeOnly ? true : options.isActive;
    if (isActive !== undefined) filters.is_active = isActive;
    if (options.isSuperuser !== undefined) filters.is_superuser = options.isSuperuser;
    if (options.isVerified !== undefined) filters.is_verified = options.isVerified;
    if (options.createdAfter || options.createdBefore) {
      filters.created_at = {
        ...(options.createdAfter ? { gt: options.createdAfter } : {}),
        ...(options.createdBefore ? { lt: options.createdBefore } : {}),
      };
    }
    return term ? this.searchPage(filters, options) : this.page(filters, options);
  }

  /** Users whose full name, username or email contains `q`, without regard to case; wildcards are literal. */
  async search(q: string, skip: number, limit: number): Promise<UserPage> {
    return this.searchPage(searchFilters(q.trim()), { skip, limit });
  }

  /** A page of a search: its total counted up to SEARCH_TOTAL_LIMIT, and whether it stopped there. */
  private async searchPage(
    filters: Filters<User>,
    options: Pick<UserListOptions, 'skip' | 'limit' | 'after' | 'sort'>,
  ): Promise<UserPage> {
    const page = await this.page(filters, options, SEARCH_TOTAL_LIMIT);
    return { ...page, total_capped: page.total >= SEARCH_TOTAL_LIMIT };
  }

  private async page(
    filters: Filters<User>,
    options: Pick<UserListOptions, 'skip' | 'limit' | 'after' | 'sort'>,
    countAtMost?: number,
  ): Promise<UserPage> {
    const { items, ...page } = await this.reader.page(
      {
        filters,
        skip: options.skip,
        limit: options.limit,
        ...(options.after ? { after: options.after } : {}),
        ...(options.sort ? { sort: options.sort } : {}),
        // The same whitelist as the `sort` parameter holds for the column a cursor carries.
        sortable: SORTABLE,
      },
      (count) => this.totals.get(JSON.stringify(filters), count),
      countAtMost,
    );
    return { users: items, ...page };
  }

  /**
   * Applies the changes. A new password is hashed and ends the user's other sessions (all of them, or all but
   * `keepSession`: the one of the user changing their own password); deactivation ends every session; a new
   * email clears verification; the last active superuser cannot be demoted or deactivated (409). Each change
   * is recorded in the audit log in the same unit of work.
   */
  async update(id: string, changes: UserChanges, options: UpdateOptions = {}): Promise<User> {
    const requested: RowPatch<UserRow> = {};
    if (changes.email !== undefined) requested.email = normalizeEmail(changes.email);
    if (changes.username !== undefined)
      requested.username = changes.username ? normalizeUsername(changes.username) : null;
    if (changes.full_name !== undefined) requested.full_name = changes.full_name;
    if (changes.password !== undefined) {
      assertAcceptablePassword(changes.password, ['body', 'password']);
      requested.hashed_password = await this.hasher.hash(changes.password);
    }
    if (changes.is_active !== undefined) requested.is_active = changes.is_active;
    if (changes.is_superuser !== undefined) requested.is_superuser = changes.is_superuser;
    // What the cache must forget once this commits: the user as it was (old email, username) and ended sessions.
    let previous: User | undefined;
    const endedSessions: string[] = [];
    const user = await this.store
      .unitOfWork(async (uow) => {
        // A unit of work runs again after a deadlock: each run starts from the request's own changes.
        const patch = { ...requested };
        endedSessions.length = 0;
        const users = new UserRepository(uow);
        const before = await users.get(id);
        if (!before) return undefined;
        previous = before;
        if (changes.is_active === false || changes.is_superuser === false) await this.keepASuperuser(uow, id);
        const emailChanged = patch.email !== undefined && patch.email !== before.email;
        if (emailChanged) {
          patch.is_verified = false;
          patch.verified_at = null;
        }
        if (changes.is_verified !== undefined && !emailChanged && changes.is_verified !== before.is_verified) {
          patch.is_verified = changes.is_verified;
          patch.verified_at = changes.is_verified ? new Date().toISOString() : null;
        }
        const updated = await users.update(id, patch);
        if (!updated) return undefined;
        await options.within?.(uow, updated);
        endedSessions.push(...(await this.recordChanges(uow, before, updated, changes, options)));
        if (emailChanged) await this.lifecycle?.emailChanged(uow, updated, options.context);
        return updated;
      })
      .catch((error: unknown) => conflictOn(error, USER_CONFLICTS));
    this.lifecycle?.committed();
    if (changes.is_active !== undefined || changes.is_superuser !== undefined) this.totals.clear();
    await this.cache?.invalidate([previous, user], endedSessions);
    return this.found(user);
  }

  /** The audit events of one update, and the sessions a password change or a deactivation ends (their ids). */
  private async recordChanges(
    uow: RepositoryProvider,
    before: User,
    after: User,
    changes: UserChanges,
    options: UpdateOptions,
  ): Promise<string[]> {
    const endedSessions: string[] = [];
    const audit = (event: AuditEventName, detail?: Record<string, string | number | boolean | string[]>) =>
      recordAudit(uow, options.context, { event, target: after.id, ...(detail ? { detail } : {}) });
    const sessions = new SessionRepository(uow);
    const now = new Date().toISOString();
    if (after.email !== before.email) await audit('email.changed');
    if (changes.password !== undefined) {
      const { ended, ids } = await sessions.revokeAll(after.id, now, 'password_changed', options.keepSession);
      endedSessions.push(...ids);
      await audit(options.passwordReset ? 'password.reset' : 'password.changed', { sessions_ended: ended });
      await this.lifecycle?.passwordChanged(uow, after.id);
    }
    if (after.is_active !== before.is_active) {
      if (after.is_active) await audit('user.activated');
      else {
        const { ended, ids } = await sessions.revokeAll(after.id, now, 'deactivated');
        endedSessions.push(...ids);
        await audit('user.deactivated', { sessions_ended: ended });
      }
    }
    if (after.is_superuser !== before.is_superuser) await audit(after.is_superuser ? 'user.promoted' : 'user.demoted');
    const fields = (['username', 'full_name', 'is_verified'] as const).filter(
      (field) => after[field] !== before[field],
    );
    if (fields.length > 0) await audit('user.updated', { fields });
    return endedSessions;
  }

  async setActive(id: string, isActive: boolean, context?: AuditContext): Promise<User> {
    return this.update(id, { is_active: isActive }, { context });
  }

  /**
   * Refuses (409) a change that would leave no active superuser: demoting, deactivating or deleting the last
   * one would lock every administrator out. Checked inside the change's own unit of work.
   */
  private async keepASuperuser(uow: RepositoryProvider, id: string): Promise<void> {
    const users = new UserRepository(uow);
    const target = await users.get(id);
    if (!target?.is_superuser || !target.is_active) return;
    const others = await users.count({ is_superuser: true, is_active: true, id: { ne: id } });
    if (others === 0) {
      throw new ConflictError('This is the last active superuser: make another user a superuser first');
    }
  }

  /** Deletes the user; its personas go with it (ON DELETE CASCADE on every database). */
  async delete(id: string, context?: AuditContext): Promise<void> {
    let previous: User | undefined;
    let sessionIds: string[] = [];
    const deleted = await this.store.unitOfWork(async (uow) => {
      await this.keepASuperuser(uow, id);
      // For the cache: the keys to tombstone (email, username) and the sessions the delete cascades to.
      if (this.cache) {
        previous = await new UserRepository(uow).get(id);
        sessionIds = await new SessionRepository(uow).liveIds(id);
      }
      const gone = await new UserRepository(uow).delete(id);
      if (gone) await recordAudit(uow, context, { event: 'user.deleted', target: id });
      return gone;
    });
    this.totals.clear();
    await this.cache?.invalidate([previous], sessionIds);
    if (!deleted) throw new NotFoundError('User not found');
  }

  async count(activeOnly: boolean): Promise<number> {
    const filters: Filters<User> = activeOnly ? { is_active: true } : {};
    return this.totals.get(JSON.stringify(filters), () => this.reader.count(filters));
  }

  async exists(id: string): Promise<boolean> {
    return this.users.exists(id);
  }

  /** Stores a stronger hash computed after a successful verification (bcrypt or old argon2 parameters). */
  async replaceHash(id: string, hashed_password: string): Promise<void> {
    // The cached copy carries updated_at, which this moves.
    await this.forget(await this.users.update(id, { hashed_password }));
  }
}
