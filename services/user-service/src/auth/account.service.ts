/**
 * Email verification and password reset by emailed tokens (issue 11), as fastapi-users names the steps:
 * request a token, receive it by mail, hand it back. Tokens are 32 random bytes (base64url), stored only as
 * a SHA-256 hash, single use (spent compare-and-set), expiring, and void once a newer token of their kind is
 * sent; a reset token is also void after any password change or once the user's email changed.
 *
 * The two request steps answer the same whatever the address: they only queue the work (SerialQueue), so an
 * unknown address costs the caller exactly what a known one does, and nothing in the answer or its timing
 * says whether an account exists.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DataStore, RepositoryProvider } from '@user-service/data';
import { type AuditContext, recordAudit } from '../audit/audit-events.js';
import { BadRequestError, OverloadedError } from '../errors.js';
import { SerialQueue } from '../shared/serial-queue.js';
import { assertAcceptablePassword } from '../users/password-rules.js';
import { UserRepository } from '../users/user.repository.js';
import { normalizeEmail, type User, type UserLifecycle, type UserService } from '../users/user.service.js';
import { type AccountToken, AccountTokenRepository } from './account-token.repository.js';
import type { AccountTokenKind } from './account-token.table.js';

/** What a token looks like: 32 random bytes in base64url (256 bits). Anything else is refused unread. */
export const ACCOUNT_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Tokens of one kind a user is sent per hour at most, whoever asks. Past it a request is answered as usual
 * (202) and sends nothing, so the limit tells nobody whether the address has an account.
 */
export const TOKENS_PER_HOUR = 3;

/** Requests (verify and forgot-password together) a process holds queued at most; past it, 503. */
export const MAX_QUEUED_REQUESTS = 1000;

export const BAD_TOKEN = {
  verify: 'Invalid or expired verification token: request a new one at /api/v1/auth/request-verify-token',
  reset: 'Invalid or expired reset token: request a new one at /api/v1/auth/forgot-password',
} as const satisfies Record<AccountTokenKind, string>;

const TEMPLATE = { verify: 'verify-email', reset: 'reset-password' } as const;
const SENT_EVENT = { verify: 'email.verification_sent', reset: 'password.reset_requested' } as const;

/** A mail the outbox (mail/outbox.ts) renders and sends once the unit of work that queued it has committed. */
export interface AccountMail {
  to: string;
  template: (typeof TEMPLATE)[AccountTokenKind];
  name: string | null;
  token: string;
  expiresInMinutes: number;
}

/** What this service needs of the outbox: queue a mail inside a unit of work, and wake the sender. */
export interface AccountMailer {
  enqueue(uow: RepositoryProvider, mail: AccountMail): Promise<void>;
  sendSoon(): void;
}

export interface AccountOptions {
  /** VERIFY_TOKEN_EXPIRE_HOURS */
  verifyTokenHours: number;
  /** RESET_TOKEN_EXPIRE_MINUTES */
  resetTokenMinutes: number;
  /** The clock (tests move it to expire tokens). */
  now?: () => Date;
  /** What a queued request that failed threw (the caller already had its 202). */
  onError?: (error: unknown) => void;
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

export class AccountService implements UserLifecycle {
  private readonly queue: SerialQueue;
  private readonly now: () => Date;
  /** Set when a mail was queued inside someone else's unit of work, whose commit we cannot see. */
  private unsent = false;

  constructor(
    private readonly store: DataStore,
    private readonly users: UserService,
    private readonly mail: AccountMailer,
    private readonly options: AccountOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.queue = new SerialQueue(MAX_QUEUED_REQUESTS, options.onError ?? (() => {}));
  }

  /** POST /auth/request-verify-token: queues a verification mail, if the address is an active, unverified user's. */
  requestVerifyToken(email: string, context: AuditContext | undefined): void {
    this.enqueue(() => this.send('verify', email, context));
  }

  /** POST /auth/forgot-password: queues a reset mail, if the address is an active user's. */
  forgotPassword(email: string, context: AuditContext | undefined): void {
    this.enqueue(() => this.send('reset', email, context));
  }

  /** Resolves once every queued request has been handled (shutdown; tests that look for what did not happen). */
  settled(): Promise<void> {
    return this.queue.settled();
  }

  /**
   * POST /auth/verify: spends the token and marks the user's email verified (if it is still the address the
   * token was sent to). Returns the user as it now is.
   */
  async verify(token: string, context: AuditContext | undefined): Promise<User> {
    const tokenHash = this.hashOf('verify', token);
    const now = this.now();
    const user = await this.store.unitOfWork(async (uow) => {
      const user = await this.spend(uow, 'verify', tokenHash, now);
      if (user.is_verified) return user;
      const at = now.toISOString();
      const verified = await new UserRepository(uow).update(user.id, { is_verified: true, verified_at: at });
      await recordAudit(uow, context, { event: 'email.verified', target: user.id }, now);
      return verified ?? user;
    });
    // The Redis user cache (when on) forgets the unverified copy before the answer.
    await this.users.forget(user);
    return user;
  }

  /**
   * POST /auth/reset-password: sets the new password through UserService (so every session of the user ends
   * and outstanding reset tokens are void), spending the token in the same unit of work: of two requests with
   * one token, exactly one changes the password.
   */
  async resetPassword(token: string, password: string, context: AuditContext | undefined): Promise<void> {
    const tokenHash = this.hashOf('reset', token);
    assertAcceptablePassword(password, ['body', 'password']);
    // Looked at first, outside any transaction, so a wrong token costs a lookup and not a password hash.
    const { user } = await this.usable(this.store, 'reset', tokenHash, this.now());
    await this.users.update(
      user.id,
      { password },
      {
        context,
        passwordReset: true,
        within: async (uow) => {
          await this.spend(uow, 'reset', tokenHash, this.now());
        },
      },
    );
  }

  /** UserLifecycle: the first verification mail of a new (active, unverified) user. */
  async created(uow: RepositoryProvider, user: User, context: AuditContext | undefined): Promise<void> {
    if (!user.is_active || user.is_verified) return;
    // A user created in this unit of work has no token yet: nothing to void (one statement less a create).
    await this.issue(uow, user, 'verify', context, this.now(), { voidOlder: false });
    this.unsent = true;
  }

  /**
   * UserLifecycle: reset links sent to the old address are void (whatever the account's state, so a change
   * A -> B -> A does not bring one back), and the new address gets a verification mail, older verify tokens
   * void with it; at most TOKENS_PER_HOUR of them an hour, as for requests, so changing the email back and
   * forth cannot mail an address without end (the change itself still happens).
   */
  async emailChanged(uow: RepositoryProvider, user: User, context: AuditContext | undefined): Promise<void> {
    const tokens = new AccountTokenRepository(uow);
    const now = this.now();
    await tokens.voidAll(user.id, 'reset', now.toISOString());
    if (!user.is_active || user.is_verified) return;
    const since = new Date(now.getTime() - 3_600_000).toISOString();
    if ((await tokens.countSince(user.id, 'verify', since)) >= TOKENS_PER_HOUR) return;
    await this.issue(uow, user, 'verify', context, now);
    this.unsent = true;
  }

  /**
   * UserLifecycle: a new password voids every token still out, of both kinds, as the issue asks: after a
   * password change (often because an account was taken over) no link mailed before it works. fastapi-users
   * voids only reset tokens; a user who changes the password before verifying asks for a new verification mail.
   */
  async passwordChanged(uow: RepositoryProvider, userId: string): Promise<void> {
    const tokens = new AccountTokenRepository(uow);
    const at = this.now().toISOString();
    await tokens.voidAll(userId, 'reset', at);
    await tokens.voidAll(userId, 'verify', at);
  }

  /**
   * UserLifecycle: the user change committed. Wakes the mail sender if a hook above queued a mail (the sender
   * only sees committed mails; woken before the commit it would find nothing, and the mail would wait for its
   * next poll).
   */
  committed(): void {
    if (!this.unsent) return;
    this.unsent = false;
    this.mail.sendSoon();
  }

  private enqueue(job: () => Promise<unknown>): void {
    // Independent of the address: a full queue is load, and every caller gets the same answer.
    if (!this.queue.push(job)) throw new OverloadedError('Too many mail requests queued; try again shortly', 5);
  }

  /** Sends a token of `kind` to the user with this email, when there is one it may go to. */
  private async send(kind: AccountTokenKind, email: string, context: AuditContext | undefined): Promise<void> {
    const now = this.now();
    const sent = await this.store.unitOfWork(async (uow) => {
      const user = await new UserRepository(uow).getBy({ email: normalizeEmail(email) });
      // An inactive user gets no mail of either kind; a verified one needs no verification.
      if (!user?.is_active || (kind === 'verify' && user.is_verified)) return false;
      const since = new Date(now.getTime() - 3_600_000).toISOString();
      if ((await new AccountTokenRepository(uow).countSince(user.id, kind, since)) >= TOKENS_PER_HOUR) return false;
      await this.issue(uow, user, kind, context, now);
      return true;
    });
    // Our own unit of work has committed: the sender can see the mail now.
    if (sent) this.mail.sendSoon();
  }

  /** A new token of `kind` for `user` (older ones void), its mail queued and the event recorded, in `uow`. */
  private async issue(
    uow: RepositoryProvider,
    user: User,
    kind: AccountTokenKind,
    context: AuditContext | undefined,
    now: Date,
    { voidOlder = true } = {},
  ): Promise<void> {
    const tokens = new AccountTokenRepository(uow);
    const at = now.toISOString();
    if (voidOlder) await tokens.voidAll(user.id, kind, at);
    const token = randomBytes(32).toString('base64url');
    const minutes = kind === 'verify' ? this.options.verifyTokenHours * 60 : this.options.resetTokenMinutes;
    await tokens.create({
      user_id: user.id,
      kind,
      token_hash: sha256(token),
      email: user.email,
      created_at: at,
      expires_at: new Date(now.getTime() + minutes * 60_000).toISOString(),
    });
    await this.mail.enqueue(uow, {
      to: user.email,
      template: TEMPLATE[kind],
      name: user.full_name,
      token,
      expiresInMinutes: minutes,
    });
    await recordAudit(uow, context, { event: SENT_EVENT[kind], target: user.id }, now);
  }

  /** The hash of a well-formed token; anything else is refused before any database work. */
  private hashOf(kind: AccountTokenKind, token: string): string {
    if (!ACCOUNT_TOKEN_PATTERN.test(token)) throw new BadRequestError(BAD_TOKEN[kind]);
    return sha256(token);
  }

  /**
   * The unspent, unexpired token with this hash and its user, who must be active and still have the address
   * the token was sent to. Anything else is the same 400, whatever the reason.
   */
  private async usable(
    store: RepositoryProvider,
    kind: AccountTokenKind,
    tokenHash: string,
    now: Date,
  ): Promise<{ token: AccountToken; user: User }> {
    const token = await new AccountTokenRepository(store).findByHash(kind, tokenHash);
    const live = token && !token.used_at && Date.parse(token.expires_at) > now.getTime();
    const user = live ? await new UserRepository(store).get(token.user_id) : undefined;
    if (!token || !user?.is_active || user.email !== token.email) throw new BadRequestError(BAD_TOKEN[kind]);
    return { token, user };
  }

  /** Checks the token as `usable` does and spends it, compare-and-set: true for exactly one concurrent caller. */
  private async spend(uow: RepositoryProvider, kind: AccountTokenKind, tokenHash: string, now: Date): Promise<User> {
    const { token, user } = await this.usable(uow, kind, tokenHash, now);
    if (!(await new AccountTokenRepository(uow).spend(token.id, now.toISOString()))) {
      throw new BadRequestError(BAD_TOKEN[kind]);
    }
    return user;
  }
}
